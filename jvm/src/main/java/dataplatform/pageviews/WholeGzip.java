package dataplatform.pageviews;

import com.fulcrumgenomics.jlibdeflate.DecompressionResult;
import com.fulcrumgenomics.jlibdeflate.LibdeflateDecompressor;
import java.io.IOException;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Inflates a whole gzip file into memory with libdeflate (jlibdeflate's bundled native library).
 *
 * <p>Why: inflating is ~90% of the CPU of reading a real-size hourly file, and libdeflate inflates
 * it in a quarter of zlib's time (Hadoop's gzip codec) on this project's machines. It has no
 * streaming API, so a file is read whole (~60 MB) and inflated whole (~250 MB, the size its gzip
 * trailer gives); both buffers are kept for the task's next file. A file it does not inflate
 * exactly (several gzip members, a trailer that does not match, damaged bytes) is left to the
 * stream path, whose errors name the damage as before; so is every file where the native library
 * cannot load. The CRC and length of what it inflates are checked by libdeflate.
 */
public final class WholeGzip {
  /** Larger inflated sizes are streamed: two such buffers per task would crowd the heap. */
  private static final long MAX_INFLATED = 1L << 30;
  /** Deflate's largest ratio is ~1032:1; a trailer claiming more is damage, not data. */
  private static final long MAX_RATIO = 1032;

  private final LibdeflateDecompressor inflater;
  private byte[] packed = new byte[0];
  private byte[] output = new byte[0];

  private WholeGzip(LibdeflateDecompressor inflater) {
    this.inflater = inflater;
  }

  /** A new inflater, or null when libdeflate cannot load here (the stream path reads every file). */
  static WholeGzip create() {
    try {
      return new WholeGzip(new LibdeflateDecompressor());
    } catch (LinkageError | RuntimeException e) {
      return null;
    }
  }

  /** Whether libdeflate loads here: the pageviews source then inflates gzip files with it. */
  public static boolean available() {
    WholeGzip probe = create();
    if (probe == null) {
      return false;
    }
    probe.close();
    return true;
  }

  /** The buffer {@link #inflate} filled. */
  byte[] output() {
    return output;
  }

  /**
   * Inflates the gzip file {@code path} into {@link #output()}; its length, or -1 when the file is
   * left to the stream path (read, and opened, once more there).
   */
  int inflate(FileSystem fs, Path path) throws IOException {
    long size = fs.getFileStatus(path).getLen();
    if (size < 18 || size > Integer.MAX_VALUE - 8) { // 18: the smallest gzip member
      return -1;
    }
    int length = (int) size;
    if (packed.length < length) {
      packed = new byte[length];
    }
    try (FSDataInputStream in = fs.open(path)) {
      in.readFully(packed, 0, length); // sequential: a positioned read opens the file again (local FS)
    }
    long inflated = (packed[length - 4] & 0xffL)
        | (packed[length - 3] & 0xffL) << 8
        | (packed[length - 2] & 0xffL) << 16
        | (packed[length - 1] & 0xffL) << 24;
    if (inflated > MAX_INFLATED || inflated > size * MAX_RATIO) {
      return -1;
    }
    if (output.length < inflated) {
      output = new byte[(int) inflated];
    }
    try {
      DecompressionResult result = inflater.gzipDecompressEx(packed, 0, length, output, 0, (int) inflated);
      boolean whole = result.inputBytesConsumed() == length && result.outputBytesProduced() == inflated;
      return whole ? (int) inflated : -1;
    } catch (RuntimeException e) { // LibdeflateException: bad data, short input or output
      return -1;
    }
  }

  /** Frees the buffers and the native inflater (the task's reads are over). */
  void close() {
    packed = new byte[0];
    output = new byte[0];
    inflater.close();
  }
}
