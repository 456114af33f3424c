package dataplatform.pageviews;

import java.util.Map;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableProvider;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * {@code spark.read.format("pageviews")}: the lines of Wikimedia hourly pageview files that belong
 * to the given domain codes, already split into (title, views).
 *
 * <p>Why a source of its own: with Spark's text source every line of every wiki becomes a row and
 * is then filtered and split by SQL string functions; most lines belong to other wikis. Here the
 * code is matched on the bytes, other lines never become rows, and the two fields are cut in one
 * pass. Options: {@code codes} (comma-separated domain codes, required) and the paths given to
 * {@code load}. A line of these codes that is not exactly four space-separated fields, or whose
 * views are not a non-negative integer, is returned as {@code title = null, views = 1}, so a sum
 * per title counts the bad lines in its null group.
 *
 * <p>With the option {@code sums=true} a task sums its files per raw title instead
 * ({@link TitleSums}): {@code title, views, mobile, hours}, where {@code mobile} is the views of
 * the codes of the option {@code mobile} and {@code hours} the views of each file as
 * {@code index:views} pairs (a file's index in the read's paths; a file is an hour), plus one row
 * with a null title whose views are the bad lines' count. The day's totals and the hourly signals
 * of its top articles then come from one read of each file. A task's table takes its memory from
 * Spark's execution memory, at most {@code maxTableBytes} (option; unbounded by default): when
 * refused, its rows go out and an empty table goes on, so a title may be in several rows of a
 * task, each a partial sum (summed downstream as those of several tasks are).
 */
public final class PageviewsSource implements TableProvider, DataSourceRegister {
  static final StructType SCHEMA =
      new StructType()
          .add("title", DataTypes.StringType, true)
          .add("views", DataTypes.LongType, false);
  static final StructType SUMS_SCHEMA =
      SCHEMA.add("mobile", DataTypes.LongType, false).add("hours", DataTypes.StringType, true);

  static StructType schemaFor(Map<String, String> options) {
    return "true".equalsIgnoreCase(options.get("sums")) ? SUMS_SCHEMA : SCHEMA;
  }

  @Override
  public String shortName() {
    return "pageviews";
  }

  @Override
  public StructType inferSchema(CaseInsensitiveStringMap options) {
    return schemaFor(options);
  }

  @Override
  public Table getTable(StructType schema, Transform[] partitioning, Map<String, String> properties) {
    return new PageviewsTable(schema);
  }
}
