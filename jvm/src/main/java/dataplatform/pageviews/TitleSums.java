package dataplatform.pageviews;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A task's sums per raw title over the files it reads: views, mobile views, and the views of each
 * file (each file is one hour), so the day's totals and every hourly signal come from one read.
 *
 * <p>Why not Spark's own partial aggregate: it keeps one buffer per group, and a per-hour sum would
 * need a group per (title, hour), a dozen times the rows to shuffle. Here the per-file views of a
 * title are a chain of small cells beside its sums, and only the chains of the few titles the job
 * ranks are ever decoded. An open-addressing table over a byte arena: a line allocates nothing.
 */
final class TitleSums {
  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  private byte[] keys = new byte[1 << 22];
  private int keyEnd;
  private int[] keyStart = new int[1 << 16];
  private int[] keyLength = new int[1 << 16];
  private int[] hashes = new int[1 << 16];
  private long[] views = new long[1 << 16];
  private long[] mobile = new long[1 << 16];
  private int[] head = new int[1 << 16];
  private int size;

  private int[] slots = new int[1 << 17]; // entry + 1; 0 is empty
  private int mask = slots.length - 1;

  private int[] cellNext = new int[1 << 16];
  private int[] cellFile = new int[1 << 16];
  private long[] cellViews = new long[1 << 16];
  private int cells;

  long badLines;

  int size() {
    return size;
  }

  /** Adds {@code v} views of the title {@code b[off, off+len)} read in file {@code file}. */
  void add(byte[] b, int off, int len, long v, boolean isMobile, int file) {
    int h = hash(b, off, len);
    int e = find(b, off, len, h);
    views[e] += v;
    if (isMobile) {
      mobile[e] += v;
    }
    int c = head[e];
    if (c >= 0 && cellFile[c] == file) {
      cellViews[c] += v;
      return;
    }
    if (cells == cellNext.length) {
      int grown = cells * 2;
      cellNext = Arrays.copyOf(cellNext, grown);
      cellFile = Arrays.copyOf(cellFile, grown);
      cellViews = Arrays.copyOf(cellViews, grown);
    }
    cellNext[cells] = c;
    cellFile[cells] = file;
    cellViews[cells] = v;
    head[e] = cells++;
  }

  private int find(byte[] b, int off, int len, int h) {
    int i = h & mask;
    while (true) {
      int slot = slots[i];
      if (slot == 0) {
        return insert(b, off, len, h, i);
      }
      int e = slot - 1;
      if (hashes[e] == h
          && keyLength[e] == len
          && Arrays.equals(keys, keyStart[e], keyStart[e] + len, b, off, off + len)) {
        return e;
      }
      i = (i + 1) & mask;
    }
  }

  private int insert(byte[] b, int off, int len, int h, int slot) {
    if (keyEnd + len > keys.length) {
      long grown = Math.max((long) keys.length * 2, (long) keyEnd + len);
      if (grown > Integer.MAX_VALUE - 8) {
        throw new IllegalStateException(
            "pageviews: over 2 GB of distinct titles in one task; read fewer files per task");
      }
      keys = Arrays.copyOf(keys, (int) grown);
    }
    if (size == keyStart.length) {
      int grown = size * 2;
      keyStart = Arrays.copyOf(keyStart, grown);
      keyLength = Arrays.copyOf(keyLength, grown);
      hashes = Arrays.copyOf(hashes, grown);
      views = Arrays.copyOf(views, grown);
      mobile = Arrays.copyOf(mobile, grown);
      head = Arrays.copyOf(head, grown);
    }
    int e = size++;
    System.arraycopy(b, off, keys, keyEnd, len);
    keyStart[e] = keyEnd;
    keyLength[e] = len;
    keyEnd += len;
    hashes[e] = h;
    head[e] = -1;
    slots[slot] = e + 1;
    if (size * 2 > slots.length) {
      rehash();
    }
    return e;
  }

  private void rehash() {
    slots = new int[slots.length * 2];
    mask = slots.length - 1;
    for (int e = 0; e < size; e++) {
      int i = hashes[e] & mask;
      while (slots[i] != 0) {
        i = (i + 1) & mask;
      }
      slots[i] = e + 1;
    }
  }

  /** A 64-bit multiply-mix over eight bytes at a time, folded to 32 bits. */
  static int hash(byte[] b, int off, int len) {
    long h = 0x9E3779B97F4A7C15L ^ len;
    int i = off;
    int end = off + len;
    for (; i + Long.BYTES <= end; i += Long.BYTES) {
      h = (h ^ (long) LONGS.get(b, i)) * 0xBF58476D1CE4E5B9L;
      h ^= h >>> 31;
    }
    long tail = 0;
    for (int shift = 0; i < end; i++, shift += 8) {
      tail |= (b[i] & 0xffL) << shift;
    }
    h = (h ^ tail) * 0x94D049BB133111EBL;
    h ^= h >>> 29;
    return (int) (h ^ (h >>> 32));
  }

  int keyStart(int e) {
    return keyStart[e];
  }

  int keyLength(int e) {
    return keyLength[e];
  }

  byte[] keys() {
    return keys;
  }

  long views(int e) {
    return views[e];
  }

  long mobile(int e) {
    return mobile[e];
  }

  /**
   * The per-file views of entry {@code e} as text, {@code file:views} pairs joined by commas
   * ({@code file} the index the reader gave), written into {@code out}; returns the length.
   */
  int hours(int e, StringBuilder out) {
    out.setLength(0);
    for (int c = head[e]; c >= 0; c = cellNext[c]) {
      if (out.length() > 0) {
        out.append(',');
      }
      out.append(cellFile[c]).append(':').append(cellViews[c]);
    }
    return out.length();
  }

  static byte[] ascii(StringBuilder text) {
    return text.toString().getBytes(StandardCharsets.US_ASCII);
  }
}
