package dataplatform.sqldump;

import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.SerializableConfiguration;

/** Shipped to the executors: the Hadoop configuration (broadcast once) and the wanted columns. */
final class SqlDumpReaderFactory implements PartitionReaderFactory {
  private final Broadcast<SerializableConfiguration> conf;
  private final StructType schema;

  SqlDumpReaderFactory(Broadcast<SerializableConfiguration> conf, StructType schema) {
    this.conf = conf;
    this.schema = schema;
  }

  @Override
  public PartitionReader<InternalRow> createReader(InputPartition partition) {
    return new SqlDumpReader(conf.value().value(), ((SqlDumpScan.FilePartition) partition).path(), schema);
  }
}
