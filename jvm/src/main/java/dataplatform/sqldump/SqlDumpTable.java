package dataplatform.sqldump;

import java.util.EnumSet;
import java.util.Set;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/** A batch-readable dump file; its path comes with each scan's options. */
final class SqlDumpTable implements SupportsRead {
  private final StructType schema;

  SqlDumpTable(StructType schema) {
    this.schema = schema;
  }

  @Override
  public String name() {
    return "sqldump";
  }

  @Override
  @SuppressWarnings("deprecation")
  public StructType schema() {
    return schema;
  }

  @Override
  public Set<TableCapability> capabilities() {
    return EnumSet.of(TableCapability.BATCH_READ);
  }

  @Override
  public ScanBuilder newScanBuilder(CaseInsensitiveStringMap options) {
    return () -> new SqlDumpScan(schema, options);
  }
}
