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
 * <p>With the option {@code titles} (a JSON array of normalised titles) the read keeps only the
 * lines whose title may normalise to one of them ({@link TitleFilter}), drops bad lines, and adds
 * each row's {@code code} and {@code file}: the job's second look at a day's files, for the hourly
 * signals of its top articles, costs a scan of the bytes and almost no rows.
 */
public final class PageviewsSource implements TableProvider, DataSourceRegister {
  static final StructType SCHEMA =
      new StructType()
          .add("title", DataTypes.StringType, true)
          .add("views", DataTypes.LongType, false);
  static final StructType FILTERED_SCHEMA =
      SCHEMA.add("code", DataTypes.StringType, false).add("file", DataTypes.StringType, false);

  static StructType schemaFor(Map<String, String> options) {
    return options.containsKey("titles") ? FILTERED_SCHEMA : SCHEMA;
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
