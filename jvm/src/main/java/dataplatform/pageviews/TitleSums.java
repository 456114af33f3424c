package dataplatform.pageviews;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A task's sums per raw title over the files it reads: views, mobile views, and the views of each
 * file (each file is one hour), so the day's totals and every hourly signal come from one read.
 *
 * <p>Why not Spark's own partial aggregate: it keeps one buffer per group, and a per-hour sum would
 * need a group per (title, hour), a dozen times the rows to shuffle. Here the per-file views of a
 * title are a chain of small cells beside its sums, and only the chains of the few titles the job
 * ranks are ever decoded. An open-addressing table over a byte arena: a line allocates nothing.
 *
 * <p>Its arrays start small and double, each growth asked of the task's {@link TableMemory}
 * first: when it is refused the line is not added ({@link #add} returns false) and the table is
 * full, its rows to be emitted before an empty table goes on.
 */
final class TitleSums {
  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  // An entry's fields side by side in `entries` (STRIDE longs): a line's update reads one or two
  // cache lines, not one per field (the table outgrows the caches; its misses bound the read).
  private static final int STRIDE = 5;
  private static final int KEY = 0; // keyStart << 32 | keyLength
  private static final int VIEWS = 1;
  private static final int MOBILE = 2;
  private static final int LAST = 3; // head << FILE_BITS | the file of the views in CURRENT
  private static final int CURRENT = 4; // the views of the entry's latest file
  private static final int FILE_BITS = 20;
  private static final long FILE_MASK = (1L << FILE_BITS) - 1;
  /** File ids are below this (FILE_MASK itself marks "no file yet"). */
  static final int MAX_FILE_ID = (int) FILE_MASK;

  private static final int FIRST = 1 << 10; // entries, cells and half the slots at first
  private static final int CELL_BYTES = Integer.BYTES * 2 + Long.BYTES;

  private final TableMemory memory; // null: unbounded (outside a Spark task)

  private byte[] keys = new byte[FIRST * 16];
  private int keyEnd;
  private long[] entries = new long[STRIDE * FIRST];
  private int size;

  private long[] slots = new long[FIRST * 2]; // hash << 32 | (entry + 1); 0 is empty
  private int mask = slots.length - 1;

  // The views of an entry's earlier files, a chain from its `head` (append-only: a line writes
  // here only when a title meets a new file).
  private int[] cellNext = new int[FIRST];
  private int[] cellFile = new int[FIRST];
  private long[] cellViews = new long[FIRST];
  private int cells;

  TitleSums(TableMemory memory) {
    this.memory = memory;
    grow(keys.length + (long) Long.BYTES * (entries.length + slots.length) + (long) CELL_BYTES * FIRST);
  }

  int size() {
    return size;
  }

  /**
   * Adds {@code v} views of the title {@code b[off, off+len)} read in file {@code file}; false,
   * adding nothing, when the table would have to grow and its memory is refused.
   */
  boolean add(byte[] b, int off, int len, long v, boolean isMobile, int file) {
    if (file < 0 || file >= MAX_FILE_ID) {
      throw new IllegalArgumentException("pageviews: file index " + file + " out of range");
    }
    int e = find(b, off, len, hash(b, off, len));
    if (e < 0) {
      return false;
    }
    int at = e * STRIDE;
    long[] en = entries;
    long last = en[at + LAST];
    int head = (int) (last >> FILE_BITS);
    boolean newFile = (last & FILE_MASK) != file;
    if (newFile && head != -2 && cells == cellNext.length) { // -2: no file yet (just inserted)
      if (!grow((long) CELL_BYTES * cells)) {
        return false;
      }
      int grown = cells * 2;
      cellNext = Arrays.copyOf(cellNext, grown);
      cellFile = Arrays.copyOf(cellFile, grown);
      cellViews = Arrays.copyOf(cellViews, grown);
    }
    en[at + VIEWS] += v;
    if (isMobile) {
      en[at + MOBILE] += v;
    }
    if (!newFile) {
      en[at + CURRENT] += v;
      return true;
    }
    if (head != -2) {
      head = push(head, (int) (last & FILE_MASK), en[at + CURRENT]);
    } else {
      head = -1;
    }
    en[at + LAST] = (long) head << FILE_BITS | file;
    en[at + CURRENT] = v;
    return true;
  }

  /** Asks the table's memory for {@code bytes} more (an empty table always gets them). */
  private boolean grow(long bytes) {
    return memory == null || memory.grow(bytes, size == 0);
  }

  /** A new cell (file, views) before {@code next}; its index (the arrays have room). */
  private int push(int next, int file, long views) {
    cellNext[cells] = next;
    cellFile[cells] = file;
    cellViews[cells] = views;
    return cells++;
  }

  private int find(byte[] b, int off, int len, int h) {
    int i = h & mask;
    long tag = (long) h << 32;
    while (true) {
      long slot = slots[i];
      if (slot == 0) {
        return insert(b, off, len, tag, i);
      }
      if ((slot & 0xFFFFFFFF00000000L) == tag) {
        int e = (int) slot - 1;
        long key = entries[e * STRIDE + KEY];
        int start = (int) (key >>> 32);
        if ((int) key == len && Arrays.equals(keys, start, start + len, b, off, off + len)) {
          return e;
        }
      }
      i = (i + 1) & mask;
    }
  }

  /** The new entry's index, or -1 when the table would have to grow and may not. */
  private int insert(byte[] b, int off, int len, long tag, int slot) {
    long grownKeys = keyEnd + len > keys.length ? Math.max((long) keys.length * 2, (long) keyEnd + len) : 0;
    if (grownKeys > Integer.MAX_VALUE - 8) {
      throw new IllegalStateException(
          "pageviews: over 2 GB of distinct titles in one task; read fewer files per task");
    }
    boolean growEntries = (size + 1) * STRIDE > entries.length;
    boolean growSlots = (size + 1) * 2 > slots.length;
    long more = (grownKeys > 0 ? grownKeys - keys.length : 0)
        + (growEntries ? (long) Long.BYTES * entries.length : 0)
        + (growSlots ? (long) Long.BYTES * slots.length : 0);
    if (more > 0 && !grow(more)) {
      return -1;
    }
    if (grownKeys > 0) {
      keys = Arrays.copyOf(keys, (int) grownKeys);
    }
    if (growEntries) {
      entries = Arrays.copyOf(entries, entries.length * 2);
    }
    int e = size++;
    System.arraycopy(b, off, keys, keyEnd, len);
    int at = e * STRIDE;
    entries[at + KEY] = (long) keyEnd << 32 | len;
    entries[at + LAST] = -2L << FILE_BITS | FILE_MASK; // no file yet: FILE_MASK is no file's index
    keyEnd += len;
    slots[slot] = tag | (e + 1);
    if (size * 2 > slots.length) {
      rehash();
    }
    return e;
  }

  private void rehash() {
    long[] old = slots;
    slots = new long[old.length * 2];
    mask = slots.length - 1;
    for (long slot : old) {
      if (slot != 0) {
        int i = (int) (slot >>> 32) & mask;
        while (slots[i] != 0) {
          i = (i + 1) & mask;
        }
        slots[i] = slot;
      }
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
    return (int) (entries[e * STRIDE + KEY] >>> 32);
  }

  int keyLength(int e) {
    return (int) entries[e * STRIDE + KEY];
  }

  byte[] keys() {
    return keys;
  }

  long views(int e) {
    return entries[e * STRIDE + VIEWS];
  }

  long mobile(int e) {
    return entries[e * STRIDE + MOBILE];
  }

  /**
   * The longest text {@link #hours} writes for a title read in {@code files} files: a pair per file,
   * each at most 7 digits of file index (under 2^20), 19 of views, a colon and a comma.
   */
  static int hoursCapacity(int files) {
    return Math.max(1, files) * 28;
  }

  /**
   * The per-file views of entry {@code e} as ASCII text, {@code file:views} pairs joined by commas
   * ({@code file} the index the reader gave), the latest file first, written into {@code out}
   * (of {@link #hoursCapacity} bytes: a row's text is built without a Java String); returns the
   * length.
   */
  int hours(int e, byte[] out) {
    long last = entries[e * STRIDE + LAST];
    int n = digits(out, 0, last & FILE_MASK);
    out[n++] = ':';
    n = digits(out, n, entries[e * STRIDE + CURRENT]);
    for (int c = (int) (last >> FILE_BITS); c >= 0; c = cellNext[c]) {
      out[n++] = ',';
      n = digits(out, n, cellFile[c]);
      out[n++] = ':';
      n = digits(out, n, cellViews[c]);
    }
    return n;
  }

  /** Writes the decimal digits of {@code v} (>= 0) at {@code b[at..]}; returns the end. */
  private static int digits(byte[] b, int at, long v) {
    int end = at + 1;
    for (long rest = v; rest >= 10; rest /= 10) {
      end++;
    }
    int i = end;
    do {
      b[--i] = (byte) ('0' + v % 10);
      v /= 10;
    } while (v > 0);
    return end;
  }
}
