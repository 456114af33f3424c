package dataplatform.pageviews;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;
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
 * Plans one read: lists the files and packs them into partitions. Lines: the way Spark's file
 * sources do (largest first, up to {@code spark.sql.files.maxPartitionBytes}, each file costing
 * {@code openCostInBytes} more), so a task sees several hours and its partial aggregate merges
 * them. Sums: one task per core at most, balanced by size: each task's table of titles is as many
 * rows to shuffle, so fewer, larger tasks shuffle less.
 */
final class PageviewsScan implements Scan, Batch {
  private final List<String> paths;
  private final int[] fileIds;
  private final String[] codes;
  private final String[] mobileCodes;
  private final boolean sums;
  private final long maxTableBytes;

  PageviewsScan(CaseInsensitiveStringMap options) {
    this.paths = paths(options);
    this.fileIds = fileIds(options, paths.size());
    this.sums = options.getBoolean("sums", false);
    this.maxTableBytes = options.getLong("maxTableBytes", Long.MAX_VALUE);
    if (maxTableBytes <= 0) {
      throw new IllegalArgumentException("pageviews: option 'maxTableBytes' must be positive");
    }
    String codes = options.get("codes");
    if (codes == null || codes.isBlank()) {
      throw new IllegalArgumentException(
          "pageviews: option 'codes' (comma-separated domain codes) is required");
    }
    this.codes = list(codes);
    this.mobileCodes = list(options.getOrDefault("mobile", ""));
  }

  private static String[] list(String commas) {
    return Arrays.stream(commas.split(",")).map(String::trim).filter(c -> !c.isEmpty()).toArray(String[]::new);
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

  /**
   * The ids the {@code sums} mode gives each path's views ({@code fileIds}, a JSON array of ints
   * >= 0 beside {@code paths}; the job passes each file's hour of the day, so reads of a day's
   * hours in several batches agree), else each path's index.
   */
  private static int[] fileIds(CaseInsensitiveStringMap options, int count) {
    String given = options.get("fileIds");
    if (given == null) {
      return IntStream.range(0, count).toArray();
    }
    int[] ids;
    try {
      ids = new ObjectMapper().readValue(given, int[].class);
    } catch (IOException e) {
      throw new IllegalArgumentException("pageviews: option 'fileIds' is not a JSON array of ints", e);
    }
    if (ids.length != count || Arrays.stream(ids).anyMatch(id -> id < 0 || id >= TitleSums.MAX_FILE_ID)) {
      throw new IllegalArgumentException(
          "pageviews: option 'fileIds' needs one id in [0, " + TitleSums.MAX_FILE_ID + ") per path");
    }
    return ids;
  }

  @Override
  public StructType readSchema() {
    return sums ? PageviewsSource.SUMS_SCHEMA : PageviewsSource.SCHEMA;
  }

  @Override
  public String description() {
    return "pageviews codes=" + String.join(",", codes) + " files=" + paths.size()
        + (sums ? " summed per title" : "");
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
    int parallelism = spark.sparkContext().defaultParallelism();
    return sums ? balanced(files, parallelism) : packed(spark, files, parallelism);
  }

  /** At most {@code tasks} partitions, each file (largest first) to the least loaded, with its id. */
  private InputPartition[] balanced(List<FileStatus> files, int tasks) {
    int count = Math.max(1, Math.min(tasks, files.size()));
    List<List<Integer>> members = new ArrayList<>();
    long[] load = new long[count];
    for (int t = 0; t < count; t++) {
      members.add(new ArrayList<>());
    }
    Integer[] order = new Integer[files.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, Comparator.comparingLong((Integer i) -> files.get(i).getLen()).reversed());
    for (int i : order) {
      int least = 0;
      for (int t = 1; t < count; t++) {
        least = load[t] < load[least] ? t : least;
      }
      members.get(least).add(i);
      load[least] += files.get(i).getLen();
    }
    return members.stream()
        .filter(m -> !m.isEmpty())
        .map(m -> new FilesPartition(
            m.stream().map(i -> files.get(i).getPath().toString()).toArray(String[]::new),
            m.stream().mapToInt(i -> fileIds[i]).toArray()))
        .toArray(InputPartition[]::new);
  }

  private static InputPartition[] packed(SparkSession spark, List<FileStatus> files, int parallelism) {
    long maxBytes = spark.sessionState().conf().filesMaxPartitionBytes();
    long openCost = spark.sessionState().conf().filesOpenCostInBytes();
    long total = files.stream().mapToLong(f -> f.getLen() + openCost).sum();
    long split = Math.min(maxBytes, Math.max(openCost, total / Math.max(1, parallelism)));
    List<FileStatus> sorted = new ArrayList<>(files);
    sorted.sort(Comparator.comparingLong(FileStatus::getLen).reversed());
    List<InputPartition> partitions = new ArrayList<>();
    List<String> current = new ArrayList<>();
    long size = 0;
    for (FileStatus f : sorted) {
      if (!current.isEmpty() && size + f.getLen() > split) {
        partitions.add(new FilesPartition(current.toArray(String[]::new), null));
        current = new ArrayList<>();
        size = 0;
      }
      current.add(f.getPath().toString());
      size += f.getLen() + openCost;
    }
    if (!current.isEmpty()) {
      partitions.add(new FilesPartition(current.toArray(String[]::new), null));
    }
    return partitions.toArray(InputPartition[]::new);
  }

  @Override
  public PartitionReaderFactory createReaderFactory() {
    SparkSession spark = SparkSession.active();
    Broadcast<SerializableConfiguration> conf =
        JavaSparkContext.fromSparkContext(spark.sparkContext())
            .broadcast(new SerializableConfiguration(spark.sessionState().newHadoopConf()));
    return new PageviewsReaderFactory(conf, codes, mobileCodes, sums, maxTableBytes);
  }

  /** The files one task reads, in order, and (sums) their ids. */
  record FilesPartition(String[] paths, int[] ids) implements InputPartition {}
}
