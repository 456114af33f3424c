package dataplatform.pageviews;

import com.fulcrumgenomics.jlibdeflate.DecompressionResult;
import com.fulcrumgenomics.jlibdeflate.LibdeflateDecompressor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.ConcurrentLinkedDeque;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.storage.StorageUtils;

/**
 * Inflates a whole gzip file into memory with libdeflate (jlibdeflate's bundled native library).
 *
 * <p>Why: inflating is most of the CPU of reading a real-size hourly file, and libdeflate inflates
 * it in under half of Hadoop's gzip codec's time on this project's machines. It has no streaming
 * API, so a file is read whole (~60 MB) and inflated whole (~250 MB, the size its gzip trailer
 * gives), then handed to the reader as a stream. Both buffers are off the heap (the tasks' tables
 * and Spark's caches keep the heap), one pair per task reading, freed when its files are read. When the direct memory left cannot hold a file's pair, the file is
 * streamed instead (below). A file it does not inflate exactly (several gzip members, a trailer
 * that does not match, damaged bytes) is left to the stream path, whose errors name the damage as
 * before; so is every file where the native library cannot load. libdeflate checks the CRC and
 * length of what it inflates.
 */
public final class WholeGzip {
  /** Larger inflated sizes are streamed: a task's buffers stay under ~1 GB off the heap. */
  private static final long MAX_INFLATED = 1L << 30;
  /** Deflate's largest ratio is ~1032:1; a trailer claiming more is damage, not data. */
  private static final long MAX_RATIO = 1032;
  private static final int CHUNK = 1 << 20;
  /** Buffers grow by at least an eighth, in 16 MiB steps: a replaced one is off-heap garbage
   * until a GC frees it, so each task's pair should settle at its largest file in a few steps. */
  private static final int GRAIN = 16 << 20;
  private static final ConcurrentLinkedDeque<WholeGzip> IDLE = new ConcurrentLinkedDeque<>();
  private static final ByteBuffer EMPTY = ByteBuffer.allocateDirect(0);

  private final LibdeflateDecompressor inflater;
  private ByteBuffer packed = EMPTY;
  private ByteBuffer output = EMPTY;
  private final byte[] chunk = new byte[CHUNK];
  private boolean shortOfMemory; // a pair did not fit: this task streams its files (dropBuffers)

  private WholeGzip(LibdeflateDecompressor inflater) {
    this.inflater = inflater;
  }

  /** An idle inflater of the pool or a new one; null when libdeflate cannot load here. */
  static WholeGzip acquire() {
    WholeGzip idle = IDLE.poll();
    if (idle != null) {
      return idle;
    }
    try {
      return new WholeGzip(new LibdeflateDecompressor());
    } catch (LinkageError | RuntimeException e) {
      return null;
    }
  }

  /**
   * Back to the pool, its buffers freed (the stream it gave must be done with). Kept for the next
   * task, a task's ~0.3 GB pair would stay reserved after the read, in the JVM's direct memory
   * that reading a spilled cached block back needs too: on a 768m driver a day's job ended in
   * "Cannot reserve ... bytes of direct buffer memory" there. A task reuses its pair for its
   * files; a new pair per task costs a few tenths of a second.
   */
  void release() {
    shortOfMemory = false; // the next task tries again: GCs may have freed memory meanwhile
    packed = free(packed);
    output = free(output);
    IDLE.push(this);
  }

  /** Whether libdeflate loads here: the pageviews source then inflates gzip files with it. */
  public static boolean available() {
    WholeGzip probe = acquire();
    if (probe == null) {
      return false;
    }
    probe.release();
    return true;
  }

  /**
   * The gzip file {@code path} inflated, as a stream over this inflater's buffer (valid until its
   * next call); null when the file is left to the stream path (read, and opened, once more there).
   */
  InputStream inflate(FileSystem fs, Path path) throws IOException {
    long size = fs.getFileStatus(path).getLen();
    if (shortOfMemory || size < 18 || size > Integer.MAX_VALUE - 8) { // 18: the smallest gzip member
      return null;
    }
    ByteBuffer read = capacity(packed, (int) size);
    if (read == null) {
      packed = EMPTY; // freed
      return dropBuffers();
    }
    packed = read;
    try (FSDataInputStream in = fs.open(path)) {
      for (int n = in.read(chunk); n > 0 && packed.hasRemaining(); n = in.read(chunk)) {
        packed.put(chunk, 0, Math.min(n, packed.remaining()));
      }
    }
    if (packed.hasRemaining()) {
      return null; // shorter than its listed size: the stream path says so
    }
    packed.flip();
    long inflated = packed.order(ByteOrder.LITTLE_ENDIAN).getInt((int) size - 4) & 0xffffffffL;
    if (inflated > MAX_INFLATED || inflated > size * MAX_RATIO) {
      return null;
    }
    ByteBuffer out = capacity(output, (int) inflated);
    if (out == null) {
      output = EMPTY; // freed
      return dropBuffers();
    }
    output = out;
    try {
      DecompressionResult result = inflater.gzipDecompressEx(packed, output);
      if (result.inputBytesConsumed() != size || result.outputBytesProduced() != inflated) {
        return null;
      }
    } catch (RuntimeException e) { // LibdeflateException: bad data, short input or output
      return null;
    }
    output.flip();
    return new Inflated(output);
  }

  /**
   * {@code buffer} cleared to {@code size} bytes, or, if it is smaller, a larger new one (it is
   * freed first); null when the JVM's direct memory (its limit is the heap's size unless set)
   * cannot hold the new one.
   */
  private static ByteBuffer capacity(ByteBuffer buffer, int size) {
    ByteBuffer ready = buffer;
    if (buffer.capacity() < size) {
      long grown = Math.max(size, (long) buffer.capacity() + (buffer.capacity() >> 3));
      long stepped = Math.min(Integer.MAX_VALUE - 8L, (grown + GRAIN - 1) / GRAIN * GRAIN);
      free(buffer); // before the larger one is reserved
      try {
        ready = ByteBuffer.allocateDirect((int) stepped);
      } catch (OutOfMemoryError e) { // after the JVM's own GC and retries: too little is left
        return null;
      }
    }
    ready.clear().limit(size);
    return ready;
  }

  /**
   * Lets this inflater's buffers go (a GC frees them) and returns null: the file is streamed
   * through Hadoop's codec. A driver with little memory then reads more slowly, instead of the
   * task's OutOfMemoryError ending the JVM (a week on a 1g driver did). The task's other files
   * are streamed too: each attempt would cost the JVM a full GC and its retries first.
   */
  private InputStream dropBuffers() {
    shortOfMemory = true;
    packed = free(packed);
    output = free(output);
    return null;
  }

  /**
   * Frees a direct buffer's memory now (Spark's own disposal of its direct buffers), not at a
   * later GC; an empty buffer in its place. The buffer must not be used again.
   */
  private static ByteBuffer free(ByteBuffer buffer) {
    if (buffer.capacity() > 0) {
      StorageUtils.dispose(buffer);
    }
    return EMPTY;
  }

  /** The inflated bytes as a stream: the reader copies them into its own buffer, a chunk a time. */
  private static final class Inflated extends InputStream {
    private final ByteBuffer bytes;

    Inflated(ByteBuffer bytes) {
      this.bytes = bytes;
    }

    @Override
    public int read() {
      return bytes.hasRemaining() ? bytes.get() & 0xff : -1;
    }

    @Override
    public int read(byte[] b, int off, int len) {
      if (len == 0) {
        return 0;
      }
      if (!bytes.hasRemaining()) {
        return -1;
      }
      int n = Math.min(len, bytes.remaining());
      bytes.get(b, off, n);
      return n;
    }
  }
}
