package dataplatform.pageviews;

import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.util.SerializableConfiguration;

/** Shipped to the executors: the Hadoop configuration (broadcast once), the codes, the mode (and the sums mode's table memory). */
final class PageviewsReaderFactory implements PartitionReaderFactory {
  private final Broadcast<SerializableConfiguration> conf;
  private final String[] codes;
  private final String[] mobileCodes;
  private final long maxTableBytes; // the sums mode's table memory at most; -1: lines mode

  PageviewsReaderFactory(
      Broadcast<SerializableConfiguration> conf, String[] codes, String[] mobileCodes, long maxTableBytes) {
    this.conf = conf;
    this.codes = codes;
    this.mobileCodes = mobileCodes;
    this.maxTableBytes = maxTableBytes;
  }

  @Override
  public PartitionReader<InternalRow> createReader(InputPartition partition) {
    PageviewsScan.FilesPartition files = (PageviewsScan.FilesPartition) partition;
    return new PageviewsReader(
        conf.value().value(),
        files.paths(),
        maxTableBytes > 0 ? files.ids() : null,
        codes,
        mobileCodes,
        maxTableBytes);
  }
}
