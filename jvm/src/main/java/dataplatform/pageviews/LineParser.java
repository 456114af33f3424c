package dataplatform.pageviews;

import java.nio.charset.StandardCharsets;

/**
 * Cuts one pageview line ({@code code title views bytes}) of the wanted domain codes, on bytes.
 *
 * <p>The rules are those the job had in SQL (and its tests pin): a line is good when it holds
 * exactly four space-separated fields (the title may be empty) and its views field is an integer
 * >= 0 as Spark's {@code try_cast(... AS BIGINT)} reads it: bytes <= 0x20 trimmed at both ends, an
 * optional sign, ASCII digits, no overflow. The size field is not read.
 */
final class LineParser {
  static final int NO_MATCH = 0;
  static final int GOOD = 1;
  static final int BAD = 2;

  private final byte[][] prefixes;

  /** Title bounds, views and the index of the matched code of the last GOOD line. */
  int code;
  int titleStart;
  int titleLength;
  long views;

  LineParser(String[] codes) {
    prefixes = new byte[codes.length][];
    for (int i = 0; i < codes.length; i++) {
      prefixes[i] = (codes[i] + " ").getBytes(StandardCharsets.UTF_8);
    }
  }

  /** NO_MATCH (another wiki), GOOD (fields set) or BAD for the line {@code b[start, end)}. */
  int parse(byte[] b, int start, int end) {
    int matched = matchedPrefix(b, start, end);
    if (matched < 0) {
      return NO_MATCH;
    }
    int title = start + prefixes[matched].length;
    int first = -1;
    int second = -1;
    for (int i = title; i < end; i++) {
      if (b[i] == ' ') {
        if (first < 0) {
          first = i;
        } else if (second < 0) {
          second = i;
        } else {
          return BAD; // a fifth field
        }
      }
    }
    if (second < 0) {
      return BAD;
    }
    long v = parseViews(b, first + 1, second);
    if (v < 0) {
      return BAD;
    }
    titleStart = title;
    titleLength = first - title;
    views = v;
    return GOOD;
  }

  /** Index of the matched "code " prefix (also kept in {@code code}), or -1. */
  private int matchedPrefix(byte[] b, int start, int end) {
    outer:
    for (int k = 0; k < prefixes.length; k++) {
      byte[] p = prefixes[k];
      if (end - start < p.length) {
        continue;
      }
      for (int i = 0; i < p.length; i++) {
        if (b[start + i] != p[i]) {
          continue outer;
        }
      }
      code = k;
      return k;
    }
    return -1;
  }

  /** The views in {@code b[start, end)}, or -1 when not a non-negative long. */
  static long parseViews(byte[] b, int start, int end) {
    while (start < end && (b[start] & 0xff) <= 0x20) {
      start++;
    }
    while (end > start && (b[end - 1] & 0xff) <= 0x20) {
      end--;
    }
    boolean negative = false;
    if (start < end && (b[start] == '+' || b[start] == '-')) {
      negative = b[start] == '-';
      start++;
    }
    if (start == end) {
      return -1;
    }
    long value = 0;
    for (int i = start; i < end; i++) {
      int d = b[i] - '0';
      if (d < 0 || d > 9) {
        return -1;
      }
      if (value > (Long.MAX_VALUE - d) / 10) {
        return -1;
      }
      value = value * 10 + d;
    }
    return negative && value != 0 ? -1 : value;
  }
}
