package dataplatform.pageviews;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The normalised titles a read keeps (the {@code titles} option), matched on a raw title's bytes.
 *
 * <p>A raw title and its normalised form ({@code _} for spaces, which a pageview title cannot hold,
 * and the first code point upper-cased) differ at most in their first code point, so the filter
 * compares what follows it: every raw title that normalises to a wanted title is kept, plus a few
 * that only share its tail ({@code dog} and {@code Dog} for {@code Dog}). The exact normalisation
 * and the join to the wanted titles stay in Spark; this only keeps the other lines from becoming
 * rows. An open-addressing table of byte arrays, so a probe allocates nothing.
 */
final class TitleFilter implements Serializable {
  private static final long serialVersionUID = 1L;

  private final byte[][] slots;
  private final int[] hashes;
  private final int mask;

  TitleFilter(String[] titles) {
    int capacity = Integer.highestOneBit(Math.max(8, titles.length * 2)) << 1;
    slots = new byte[capacity][];
    hashes = new int[capacity];
    mask = capacity - 1;
    for (String title : titles) {
      byte[] bytes = title.getBytes(StandardCharsets.UTF_8);
      int start = firstCodePointLength(bytes, 0, bytes.length);
      add(Arrays.copyOfRange(bytes, start, bytes.length));
    }
  }

  /** Bytes of the UTF-8 code point opening {@code b[start, end)} (1 for a stray byte, 0 when empty). */
  static int firstCodePointLength(byte[] b, int start, int end) {
    if (start >= end) {
      return 0;
    }
    int lead = b[start] & 0xff;
    int n = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return Math.min(n, end - start);
  }

  private static int hash(byte[] b, int start, int end) {
    int h = 1;
    for (int i = start; i < end; i++) {
      h = 31 * h + b[i];
    }
    return h ^ (h >>> 16);
  }

  private void add(byte[] tail) {
    int h = hash(tail, 0, tail.length);
    int i = h & mask;
    while (slots[i] != null) {
      if (hashes[i] == h && Arrays.equals(slots[i], tail)) {
        return;
      }
      i = (i + 1) & mask;
    }
    slots[i] = tail;
    hashes[i] = h;
  }

  /** Whether the raw title {@code b[start, end)} may normalise to a wanted title. */
  boolean keeps(byte[] b, int start, int end) {
    int tail = start + firstCodePointLength(b, start, end);
    int h = hash(b, tail, end);
    for (int i = h & mask; slots[i] != null; i = (i + 1) & mask) {
      if (hashes[i] == h && Arrays.equals(slots[i], 0, slots[i].length, b, tail, end)) {
        return true;
      }
    }
    return false;
  }
}
