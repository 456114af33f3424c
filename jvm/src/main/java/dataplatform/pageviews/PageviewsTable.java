package dataplatform.pageviews;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import org.apache.spark.sql.connector.catalog.Column;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/** A batch-readable set of pageview files; the paths and codes come with each scan's options. */
final class PageviewsTable implements SupportsRead {
  private final StructType schema;

  PageviewsTable(StructType schema) {
    this.schema = schema;
  }

  @Override
  public String name() {
    return "pageviews";
  }

  @Override
  public Column[] columns() {
    return Arrays.stream(schema.fields())
        .map(f -> Column.create(f.name(), f.dataType(), f.nullable()))
        .toArray(Column[]::new);
  }

  @Override
  public Set<TableCapability> capabilities() {
    return EnumSet.of(TableCapability.BATCH_READ);
  }

  @Override
  public ScanBuilder newScanBuilder(CaseInsensitiveStringMap options) {
    return () -> new PageviewsScan(options);
  }
}
