package dataplatform.pageviews;

import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.util.SerializableConfiguration;

/** Shipped to the executors: the Hadoop configuration (broadcast once), the codes, the mode. */
final class PageviewsReaderFactory implements PartitionReaderFactory {
  private final Broadcast<SerializableConfiguration> conf;
  private final String[] codes;
  private final String[] mobileCodes;
  private final boolean sums;
  private final long maxTableBytes; // the sums mode's table memory at most

  PageviewsReaderFactory(
      Broadcast<SerializableConfiguration> conf,
      String[] codes,
      String[] mobileCodes,
      boolean sums,
      long maxTableBytes) {
    this.conf = conf;
    this.codes = codes;
    this.mobileCodes = mobileCodes;
    this.sums = sums;
    this.maxTableBytes = maxTableBytes;
  }

  @Override
  public PartitionReader<InternalRow> createReader(InputPartition partition) {
    PageviewsScan.FilesPartition files = (PageviewsScan.FilesPartition) partition;
    return new PageviewsReader(
        conf.value().value(),
        files.paths(),
        sums ? files.ids() : null,
        codes,
        mobileCodes,
        maxTableBytes);
  }
}
