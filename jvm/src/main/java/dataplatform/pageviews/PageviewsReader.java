package dataplatform.pageviews;

import java.io.IOException;
import java.io.InputStream;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CodecPool;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;
import org.apache.hadoop.io.compress.Decompressor;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.codegen.UnsafeRowWriter;
import org.apache.spark.sql.connector.read.PartitionReader;

/**
 * Streams the files of one partition (a gzip file inflated whole by {@link WholeGzip}, else
 * decompressed through Hadoop's codecs: gzip and plain files, local or S3A) and returns the lines
 * of the wanted codes as (title, views) rows; in the {@code sums} mode, it sums them per raw title
 * first ({@link TitleSums}: title, views, mobile views, views per file) and returns a row per
 * title of each table it filled (one, unless the task's memory refused it room) and one of the
 * bad lines' count.
 *
 * <p>Lines end at {@code \n}, {@code \r} or {@code \r\n}, and a UTF-8 byte order mark opening a
 * file is skipped, as with Hadoop's LineRecordReader (Spark's text source). Only one line is held
 * at a time, in a 1 MiB buffer that grows only for a longer line. A read error names the file.
 */
final class PageviewsReader implements PartitionReader<InternalRow> {
  private static final int BUFFER = 1 << 20;
  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final long ONES = 0x0101010101010101L;
  private static final long HIGHS = 0x8080808080808080L;
  private static final byte[] UTF8_BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};

  private final Configuration conf;
  private final String[] paths;
  private final LineParser parser;
  private final int[] fileIds;
  private final boolean[] mobile;
  private final UnsafeRowWriter writer;
  private final TableMemory memory; // null outside a Spark task
  private TitleSums sums;
  private int emitted;
  private boolean pending; // the parsed line a full table refused, for the next one
  private boolean filesRead;
  private long badLines;
  private final byte[] hours; // a row's hours text (TitleSums.hours)
  private int nextPath;

  private InputStream in;
  private Decompressor decompressor;
  private WholeGzip whole = WholeGzip.acquire(); // back to its pool once the files are read
  private byte[] buf = new byte[BUFFER];
  private int pos;
  private int limit;
  private boolean eof;
  private boolean skipLf;
  private int lineStart;
  private int lineEnd;

  /**
   * {@code fileIds} names each path in the {@code sums} mode's per-file views (null: lines mode);
   * {@code mobileCodes} are those of {@code codes} whose views count as mobile.
   */
  PageviewsReader(
      Configuration conf, String[] paths, int[] fileIds, String[] codes, String[] mobileCodes, long maxTableBytes) {
    this.conf = conf;
    this.memory = fileIds == null ? null : TableMemory.forTask(maxTableBytes);
    this.paths = paths;
    this.fileIds = fileIds;
    this.hours = new byte[TitleSums.hoursCapacity(paths.length)];
    this.parser = new LineParser(codes);
    this.mobile = new boolean[codes.length];
    for (int i = 0; i < codes.length; i++) {
      mobile[i] = Arrays.asList(mobileCodes).contains(codes[i]);
    }
    this.writer = new UnsafeRowWriter(fileIds == null ? 2 : 4, 64);
  }

  @Override
  public boolean next() throws IOException {
    try {
      return fileIds == null ? nextLine() : nextSum();
    } catch (IOException e) {
      throw new IOException("pageviews: cannot read " + paths[nextPath - 1] + ": " + e.getMessage(), e);
    }
  }

  /** The next line of the wanted codes as a row (a bad one as a null title with one view). */
  private boolean nextLine() throws IOException {
    int kind = advance();
    if (kind == LineParser.NO_MATCH) {
      return false;
    }
    writer.reset();
    writer.zeroOutNullBytes();
    if (kind == LineParser.GOOD) {
      writer.write(0, buf, parser.titleStart, parser.titleLength);
      writer.write(1, parser.views);
    } else {
      writer.setNullAt(0);
      writer.write(1, 1L);
    }
    return true;
  }

  /**
   * The next title's sums: a table is filled from the files (until they end, or until it is full:
   * its memory refused), its rows go out, and an empty one goes on from the line that did not fit.
   * The bad lines' count is the last row.
   */
  private boolean nextSum() throws IOException {
    while (true) {
      if (sums != null && emitted < sums.size()) {
        int e = emitted++;
        writer.reset();
        writer.zeroOutNullBytes();
        writer.write(0, sums.keys(), sums.keyStart(e), sums.keyLength(e));
        writer.write(1, sums.views(e));
        writer.write(2, sums.mobile(e));
        writer.write(3, hours, 0, sums.hours(e, hours));
        return true;
      }
      if (sums != null) {
        sums = null; // its rows are out: its memory goes back before the next one takes any
        if (memory != null) {
          memory.releaseAll();
        }
      }
      if (filesRead) {
        return badLinesRow();
      }
      fillTable();
    }
  }

  /** Reads lines into a new table until the files end or it is full (the line kept pending). */
  private void fillTable() throws IOException {
    sums = new TitleSums(memory);
    emitted = 0;
    if (pending && !addPending()) {
      throw new IllegalStateException("pageviews: an empty table refused a line");
    }
    pending = false;
    for (int kind = advance(); kind != LineParser.NO_MATCH; kind = advance()) {
      if (kind == LineParser.BAD) {
        badLines++;
      } else if (!addPending()) {
        pending = true; // the parser still holds it, and the buffer is not read until it is added
        return;
      }
    }
    filesRead = true;
    releaseWhole(); // the next task may read while these rows go out
  }

  private boolean addPending() {
    return sums.add(buf, parser.titleStart, parser.titleLength, parser.views, mobile[parser.code], fileIds[nextPath - 1]);
  }

  /** The bad lines' count as a null title's views, once (none: no row). */
  private boolean badLinesRow() {
    if (badLines == 0) {
      return false;
    }
    writer.reset();
    writer.zeroOutNullBytes();
    writer.setNullAt(0);
    writer.write(1, badLines);
    writer.write(2, 0L);
    writer.setNullAt(3);
    badLines = 0;
    return true;
  }

  /** The kind of the next line of the wanted codes (parsed into {@code parser}), NO_MATCH at the end. */
  private int advance() throws IOException {
    while (true) {
      if (in == null) {
        if (nextPath == paths.length) {
          return LineParser.NO_MATCH;
        }
        open(paths[nextPath++]);
      }
      if (!readLine()) {
        closeCurrent();
        continue;
      }
      int kind = parser.parse(buf, lineStart, lineEnd);
      if (kind != LineParser.NO_MATCH) {
        return kind;
      }
    }
  }

  @Override
  public InternalRow get() {
    return writer.getRow();
  }

  @Override
  public void close() throws IOException {
    closeCurrent();
    releaseWhole();
    if (memory != null) {
      memory.releaseAll();
    }
  }

  private void releaseWhole() {
    if (whole != null) {
      whole.release();
      whole = null;
    }
  }

  private void open(String file) throws IOException {
    Path path = new Path(file);
    FileSystem fs = path.getFileSystem(conf);
    pos = 0;
    limit = 0;
    eof = false;
    skipLf = false;
    InputStream inflated = whole != null && file.endsWith(".gz") ? whole.inflate(fs, path) : null;
    if (inflated != null) {
      in = inflated;
    } else {
      InputStream raw = fs.open(path, BUFFER);
      CompressionCodec codec = new CompressionCodecFactory(conf).getCodec(path);
      if (codec == null) {
        in = raw;
      } else {
        decompressor = CodecPool.getDecompressor(codec);
        in = codec.createInputStream(raw, decompressor);
      }
    }
    while (limit < UTF8_BOM.length && !eof) {
      fill();
    }
    if (limit >= UTF8_BOM.length && Arrays.equals(buf, 0, UTF8_BOM.length, UTF8_BOM, 0, UTF8_BOM.length)) {
      pos = UTF8_BOM.length; // skipped, as Hadoop's LineRecordReader does
    }
  }

  private void closeCurrent() throws IOException {
    if (in != null) {
      try {
        in.close();
      } finally {
        in = null;
        if (decompressor != null) {
          CodecPool.returnDecompressor(decompressor);
          decompressor = null;
        }
      }
    }
  }

  /**
   * The index of the first {@code \n} or {@code \r} in {@code b[i, limit)}, else {@code limit}. Eight
   * bytes at a time (the classic "has a zero byte" test on the word XOR each terminator): the scan
   * for line ends runs over every byte of every file, most of them in lines of other wikis.
   */
  static int endOfLine(byte[] b, int i, int limit) {
    for (; i + Long.BYTES <= limit; i += Long.BYTES) {
      long word = (long) LONGS.get(b, i);
      long lf = word ^ (ONES * '\n');
      long cr = word ^ (ONES * '\r');
      long hit = ((lf - ONES) & ~lf | (cr - ONES) & ~cr) & HIGHS;
      if (hit != 0) {
        return i + (Long.numberOfTrailingZeros(hit) >>> 3); // exact for the lowest hit
      }
    }
    for (; i < limit; i++) {
      if (b[i] == '\n' || b[i] == '\r') {
        return i;
      }
    }
    return limit;
  }

  /** Sets lineStart/lineEnd to the next line; false at the end of the stream. */
  private boolean readLine() throws IOException {
    int i = pos;
    while (true) {
      if (skipLf && i < limit) {
        skipLf = false;
        if (buf[i] == '\n') {
          pos = ++i;
        }
      }
      i = endOfLine(buf, i, limit);
      if (i < limit) {
        lineStart = pos;
        lineEnd = i;
        pos = i + 1;
        skipLf = buf[i] == '\r';
        return true;
      }
      if (eof) {
        if (pos < limit) {
          lineStart = pos;
          lineEnd = limit;
          pos = limit;
          return true;
        }
        return false;
      }
      int kept = limit - pos;
      if (kept == buf.length) {
        buf = Arrays.copyOf(buf, buf.length * 2);
      } else if (pos > 0) {
        System.arraycopy(buf, pos, buf, 0, kept);
      }
      pos = 0;
      limit = kept;
      i = kept;
      fill();
    }
  }

  /** Appends what the stream gives to {@code buf[limit..]}; sets eof at its end. */
  private void fill() throws IOException {
    int n = in.read(buf, limit, buf.length - limit);
    if (n < 0) {
      eof = true;
    } else {
      limit += n;
    }
  }
}
