package dataplatform.pageviews;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.read.Batch;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import org.apache.spark.util.SerializableConfiguration;

/**
 * Plans one read: lists the files and packs them into partitions the way Spark's file sources do
 * (largest first, up to {@code spark.sql.files.maxPartitionBytes}, each file costing
 * {@code openCostInBytes} more), so a task sees several hours and its partial aggregate merges them.
 */
final class PageviewsScan implements Scan, Batch {
  private final List<String> paths;
  private final String[] codes;
  private final TitleFilter titles;

  PageviewsScan(CaseInsensitiveStringMap options) {
    this.paths = paths(options);
    this.titles = titles(options);
    String codes = options.get("codes");
    if (codes == null || codes.isBlank()) {
      throw new IllegalArgumentException(
          "pageviews: option 'codes' (comma-separated domain codes) is required");
    }
    this.codes =
        Arrays.stream(codes.split(",")).map(String::trim).filter(c -> !c.isEmpty()).toArray(String[]::new);
  }

  private static TitleFilter titles(CaseInsensitiveStringMap options) {
    String json = options.get("titles");
    if (json == null) {
      return null;
    }
    try {
      return new TitleFilter(new ObjectMapper().readValue(json, String[].class));
    } catch (IOException e) {
      throw new IllegalArgumentException("pageviews: option 'titles' is not a JSON array of strings", e);
    }
  }

  private static List<String> paths(CaseInsensitiveStringMap options) {
    List<String> out = new ArrayList<>();
    String many = options.get("paths");
    if (many != null) {
      try {
        out.addAll(Arrays.asList(new ObjectMapper().readValue(many, String[].class)));
      } catch (IOException e) {
        throw new IllegalArgumentException("pageviews: option 'paths' is not a JSON array of strings", e);
      }
    }
    String one = options.get("path");
    if (one != null) {
      out.add(one);
    }
    return out;
  }

  @Override
  public StructType readSchema() {
    return titles == null ? PageviewsSource.SCHEMA : PageviewsSource.FILTERED_SCHEMA;
  }

  @Override
  public String description() {
    return "pageviews codes=" + String.join(",", codes) + " files=" + paths.size()
        + (titles == null ? "" : " filtered by title");
  }

  @Override
  public Batch toBatch() {
    return this;
  }

  @Override
  public InputPartition[] planInputPartitions() {
    SparkSession spark = SparkSession.active();
    Configuration conf = spark.sessionState().newHadoopConf();
    List<FileStatus> files = new ArrayList<>();
    try {
      for (String p : paths) {
        Path path = new Path(p);
        files.add(path.getFileSystem(conf).getFileStatus(path));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    long maxBytes = spark.sessionState().conf().filesMaxPartitionBytes();
    long openCost = spark.sessionState().conf().filesOpenCostInBytes();
    int parallelism = spark.sparkContext().defaultParallelism();
    long total = files.stream().mapToLong(f -> f.getLen() + openCost).sum();
    long split = Math.min(maxBytes, Math.max(openCost, total / Math.max(1, parallelism)));
    files.sort(Comparator.comparingLong(FileStatus::getLen).reversed());
    List<InputPartition> partitions = new ArrayList<>();
    List<String> current = new ArrayList<>();
    long size = 0;
    for (FileStatus f : files) {
      if (!current.isEmpty() && size + f.getLen() > split) {
        partitions.add(new FilesPartition(current.toArray(String[]::new)));
        current = new ArrayList<>();
        size = 0;
      }
      current.add(f.getPath().toString());
      size += f.getLen() + openCost;
    }
    if (!current.isEmpty()) {
      partitions.add(new FilesPartition(current.toArray(String[]::new)));
    }
    return partitions.toArray(InputPartition[]::new);
  }

  @Override
  public PartitionReaderFactory createReaderFactory() {
    SparkSession spark = SparkSession.active();
    Broadcast<SerializableConfiguration> conf =
        JavaSparkContext.fromSparkContext(spark.sparkContext())
            .broadcast(new SerializableConfiguration(spark.sessionState().newHadoopConf()));
    return new PageviewsReaderFactory(conf, codes, titles);
  }

  /** The files one task reads, in order. */
  record FilesPartition(String[] paths) implements InputPartition {}
}
