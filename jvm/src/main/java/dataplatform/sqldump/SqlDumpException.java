package dataplatform.sqldump;

/**
 * A dump that does not have the expected shape. Its message is one line that starts with
 * {@code SQL dump} and names the file, so the job can show it as is.
 */
public final class SqlDumpException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  SqlDumpException(String message) {
    super(message);
  }
}
