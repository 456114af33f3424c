package dataplatform.sqldump;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.read.Batch;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import org.apache.spark.util.SerializableConfiguration;

/** Plans one read: one partition (one task) per dump file. */
final class SqlDumpScan implements Scan, Batch {
  private final StructType schema;
  private final List<String> paths = new ArrayList<>();

  SqlDumpScan(StructType schema, CaseInsensitiveStringMap options) {
    for (StructField field : schema.fields()) {
      DataType type = field.dataType();
      if (!type.equals(DataTypes.LongType)
          && !type.equals(DataTypes.IntegerType)
          && !type.equals(DataTypes.StringType)) {
        throw new IllegalArgumentException(
            "sqldump: column " + field.name() + " is " + type.simpleString() + "; only bigint, int, string");
      }
    }
    this.schema = schema;
    String one = options.get("path");
    if (one == null) {
      throw new IllegalArgumentException("sqldump: give the dump file to load(...)");
    }
    paths.add(one);
  }

  @Override
  public StructType readSchema() {
    return schema;
  }

  @Override
  public String description() {
    return "sqldump " + String.join(",", paths);
  }

  @Override
  public Batch toBatch() {
    return this;
  }

  @Override
  public InputPartition[] planInputPartitions() {
    return paths.stream().map(FilePartition::new).toArray(InputPartition[]::new);
  }

  @Override
  public PartitionReaderFactory createReaderFactory() {
    SparkSession spark = SparkSession.active();
    Broadcast<SerializableConfiguration> conf =
        JavaSparkContext.fromSparkContext(spark.sparkContext())
            .broadcast(new SerializableConfiguration(spark.sessionState().newHadoopConf()));
    return new SqlDumpReaderFactory(conf, schema);
  }

  /** The file one task reads. */
  record FilePartition(String path) implements InputPartition {}
}
