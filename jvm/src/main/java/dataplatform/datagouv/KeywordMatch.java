package dataplatform.datagouv;

import java.util.regex.Pattern;
import org.apache.spark.sql.api.java.UDF1;

/**
 * The data.gouv.fr matcher in the JVM: does a keyword occur in the text once folded?
 *
 * <p>The tables come from Python ({@code jobs.datagouv_catalog.transform.fold_tables}, built from
 * Python's {@code unicodedata}, the definition's), in the form Spark's {@code translate} takes:
 * each code point of {@code foldFrom} becomes the code point at the same place in {@code foldTo}
 * (a keyword letter, or U+FFFF for a complex character), or is deleted when {@code foldTo} is
 * shorter. Every other code point stays itself. This class applies that mapping on the fly and
 * runs one KMP automaton per keyword over it: no copy of the text, no allocation per character,
 * which is what makes it several times cheaper than {@code translate}. A text that holds a complex
 * character is folded again keeping those ({@code keepFrom}/{@code keepTo}) and matched with
 * {@code complexRegex}, exactly as the column-function form does.
 */
public final class KeywordMatch implements UDF1<String, Boolean> {
  private static final long serialVersionUID = 1L;
  private static final int MARK = 0xFFFF;
  private static final int DELETE = -1;
  /** Planes 0 and 1: the tables never name a code point beyond (the Python side tests it). */
  private static final int SCANNED = 0x20000;

  private final String foldFrom;
  private final String foldTo;
  private final String keepFrom;
  private final String keepTo;
  private final String[] keywords;
  private final String complexRegex;

  /** Built from the fields on first use in each JVM (the object travels serialized in the plan). */
  private transient volatile Compiled compiled;

  private static final class Compiled {
    final int[] fold;
    final int[] keep;
    final int[][] words;
    final int[][] failure;
    final Pattern complex;

    Compiled(KeywordMatch m) {
      fold = table(m.foldFrom, m.foldTo);
      keep = table(m.keepFrom, m.keepTo);
      words = new int[m.keywords.length][];
      failure = new int[m.keywords.length][];
      for (int k = 0; k < m.keywords.length; k++) {
        words[k] = m.keywords[k].codePoints().toArray();
        failure[k] = failureFunction(words[k]);
      }
      complex = Pattern.compile(m.complexRegex);
    }
  }

  public KeywordMatch(
      String foldFrom,
      String foldTo,
      String keepFrom,
      String keepTo,
      String[] keywords,
      String complexRegex) {
    this.foldFrom = foldFrom;
    this.foldTo = foldTo;
    this.keepFrom = keepFrom;
    this.keepTo = keepTo;
    this.keywords = keywords.clone();
    this.complexRegex = complexRegex;
  }

  /** translate's mapping as a table over planes 0 and 1: target code point, or DELETE. */
  private static int[] table(String from, String to) {
    int[] map = new int[SCANNED];
    for (int i = 0; i < SCANNED; i++) {
      map[i] = i;
    }
    int[] source = from.codePoints().toArray();
    int[] target = to.codePoints().toArray();
    for (int i = source.length - 1; i >= 0; i--) { // the first occurrence wins, as in translate
      if (source[i] >= SCANNED) {
        throw new IllegalArgumentException("fold table names U+" + Integer.toHexString(source[i]));
      }
      map[source[i]] = i < target.length ? target[i] : DELETE;
    }
    return map;
  }

  /** KMP: f[i] is the length of the longest proper border of w[0, i); f[0] = -1. */
  private static int[] failureFunction(int[] w) {
    int[] f = new int[w.length + 1];
    f[0] = -1;
    for (int i = 1; i <= w.length; i++) {
      int j = f[i - 1];
      while (j >= 0 && w[j] != w[i - 1]) {
        j = f[j];
      }
      f[i] = j + 1;
    }
    return f;
  }

  private Compiled tables() {
    Compiled c = compiled;
    if (c == null) {
      c = new Compiled(this); // two threads may both build it: same result, one is kept
      compiled = c;
    }
    return c;
  }

  @Override
  public Boolean call(String text) {
    if (text == null || text.isEmpty()) {
      return Boolean.FALSE;
    }
    Compiled t = tables();
    int[][] words = t.words;
    int[] fold = t.fold;
    int[] matched = new int[words.length];
    boolean complexSeen = false;
    int length = text.length();
    for (int i = 0; i < length; ) {
      int cp = text.codePointAt(i);
      i += Character.charCount(cp);
      int c = cp < SCANNED ? fold[cp] : cp;
      if (c == DELETE) {
        continue;
      }
      if (c == MARK && cp != MARK) {
        complexSeen = true;
      }
      for (int k = 0; k < words.length; k++) {
        int[] w = words[k];
        int j = matched[k];
        while (j >= 0 && w[j] != c) {
          j = t.failure[k][j];
        }
        j++;
        if (j == w.length) {
          return Boolean.TRUE;
        }
        matched[k] = j;
      }
    }
    return complexSeen && t.complex.matcher(kept(text, t.keep)).find();
  }

  /** The text folded with complex characters kept, for the regex. */
  private static String kept(String text, int[] keep) {
    StringBuilder out = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      i += Character.charCount(cp);
      int c = cp < SCANNED ? keep[cp] : cp;
      if (c != DELETE) {
        out.appendCodePoint(c);
      }
    }
    return out.toString();
  }
}
