package dataplatform.pageviews;

import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.util.SerializableConfiguration;

/** Shipped to the executors: the Hadoop configuration (broadcast once), the codes, the title filter. */
final class PageviewsReaderFactory implements PartitionReaderFactory {
  private final Broadcast<SerializableConfiguration> conf;
  private final String[] codes;
  private final TitleFilter titles;

  PageviewsReaderFactory(Broadcast<SerializableConfiguration> conf, String[] codes, TitleFilter titles) {
    this.conf = conf;
    this.codes = codes;
    this.titles = titles;
  }

  @Override
  public PartitionReader<InternalRow> createReader(InputPartition partition) {
    return new PageviewsReader(
        conf.value().value(), ((PageviewsScan.FilesPartition) partition).paths(), codes, titles);
  }
}
