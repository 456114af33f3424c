package dataplatform.datagouv;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.regex.Pattern;
import org.apache.spark.sql.api.java.UDF1;

/**
 * The data.gouv.fr matcher in the JVM: does a keyword occur in the text once folded?
 *
 * <p>The tables come from Python ({@code jobs.datagouv_catalog.transform.fold_tables}, built from
 * Python's {@code unicodedata}, the definition's), in the form Spark's {@code translate} takes:
 * each code point of {@code foldFrom} becomes the code point at the same place in {@code foldTo}
 * (a keyword letter, or U+FFFF for a complex character), or is deleted when {@code foldTo} is
 * shorter. Every other code point stays itself. This class applies that mapping on the fly, as a
 * class per code point (deleted, a keyword letter, complex, anything else), and runs one automaton
 * recognising every keyword (Aho-Corasick) over the classes: one table step per character, no copy
 * of the text. It reads the cell's UTF-8 bytes ({@code cast(text as binary)}), so Spark never
 * decodes the cell into a Java string. A text that holds a complex character is folded again
 * keeping those ({@code keepFrom}/{@code keepTo}) and matched with {@code complexRegex}, exactly as
 * the column-function form does.
 */
public final class KeywordMatch implements UDF1<byte[], Boolean> {
  private static final long serialVersionUID = 1L;
  private static final int MARK = 0xFFFF;
  private static final int DELETE = -1;
  /** Planes 0 and 1: the tables never name a code point beyond (the Python side tests it). */
  private static final int SCANNED = 0x20000;
  /** Classes of a code point: deleted, not a keyword letter, complex; keyword letters follow. */
  private static final byte SKIP = -1;
  private static final byte OTHER = 0;
  private static final byte COMPLEX = 1;
  private static final int LETTERS = 2;

  private final String foldFrom;
  private final String foldTo;
  private final String keepFrom;
  private final String keepTo;
  private final String[] keywords;
  private final String complexRegex;

  /** Built from the fields on first use in each JVM (the object travels serialized in the plan). */
  private transient volatile Compiled compiled;

  private static final class Compiled {
    /** The class of each code point of planes 0 and 1 (beyond: OTHER). */
    final byte[] classes;
    /** The automaton: next state = step[state * width + class]; COMPLEX and OTHER lead to 0. */
    final int[] step;
    final int width;
    final boolean[] accepting;
    final int[] keep;
    final Pattern complex;

    Compiled(KeywordMatch m) {
      int[] fold = table(m.foldFrom, m.foldTo);
      keep = table(m.keepFrom, m.keepTo);
      int[] letterClass = new int[SCANNED];
      int[] alphabet = String.join("", m.keywords).codePoints().distinct().toArray();
      for (int i = 0; i < alphabet.length; i++) {
        letterClass[alphabet[i]] = LETTERS + i;
      }
      classes = new byte[SCANNED];
      for (int cp = 0; cp < SCANNED; cp++) {
        int c = fold[cp];
        if (c == DELETE) {
          classes[cp] = SKIP;
        } else if (c == MARK && cp != MARK) {
          classes[cp] = COMPLEX;
        } else if (c < SCANNED && letterClass[c] != 0) {
          classes[cp] = (byte) letterClass[c];
        } else {
          classes[cp] = OTHER;
        }
      }
      width = LETTERS + alphabet.length;
      int[][] words = new int[m.keywords.length][];
      for (int k = 0; k < words.length; k++) {
        words[k] = m.keywords[k].codePoints().map(c -> letterClass[c]).toArray();
      }
      Automaton a = new Automaton(words, width);
      step = a.step;
      accepting = a.accepting;
      complex = Pattern.compile(m.complexRegex);
    }
  }

  /** Aho-Corasick over classes: a trie of the keywords, completed into a full transition table. */
  private static final class Automaton {
    final int[] step;
    final boolean[] accepting;

    Automaton(int[][] words, int width) {
      int states = 1;
      for (int[] w : words) {
        states += w.length;
      }
      int[][] next = new int[states][width];
      for (int[] row : next) {
        Arrays.fill(row, -1);
      }
      boolean[] accept = new boolean[states];
      int count = 1;
      for (int[] w : words) {
        int s = 0;
        for (int c : w) {
          if (next[s][c] < 0) {
            next[s][c] = count++;
          }
          s = next[s][c];
        }
        accept[s] = true;
      }
      int[] fail = new int[count];
      int[] queue = new int[count];
      int head = 0;
      int tail = 0;
      for (int c = 0; c < width; c++) {
        if (next[0][c] < 0) {
          next[0][c] = 0;
        } else {
          fail[next[0][c]] = 0;
          queue[tail++] = next[0][c];
        }
      }
      while (head < tail) {
        int s = queue[head++];
        accept[s] |= accept[fail[s]];
        for (int c = 0; c < width; c++) {
          int t = next[s][c];
          if (t < 0) {
            next[s][c] = next[fail[s]][c];
          } else {
            fail[t] = next[fail[s]][c];
            queue[tail++] = t;
          }
        }
      }
      step = new int[count * width];
      accepting = new boolean[count];
      for (int s = 0; s < count; s++) {
        System.arraycopy(next[s], 0, step, s * width, width);
        accepting[s] = accept[s];
      }
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

  private Compiled tables() {
    Compiled c = compiled;
    if (c == null) {
      c = new Compiled(this); // two threads may both build it: same result, one is kept
      compiled = c;
    }
    return c;
  }

  @Override
  public Boolean call(byte[] utf8) {
    if (utf8 == null || utf8.length == 0) {
      return Boolean.FALSE;
    }
    Compiled t = tables();
    byte[] classes = t.classes;
    int[] step = t.step;
    boolean[] accepting = t.accepting;
    int width = t.width;
    boolean complexSeen = false;
    int state = 0;
    int length = utf8.length;
    for (int i = 0; i < length; ) {
      int b = utf8[i];
      int cp;
      if (b >= 0) {
        cp = b;
        i++;
      } else {
        cp = decode(utf8, i);
        if (cp < 0) { // not well-formed: the text Java decodes (U+FFFD for bad bytes), well-formed
          return call(new String(utf8, StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8));
        }
        i += cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      }
      int c = cp < SCANNED ? classes[cp] : OTHER;
      if (c == SKIP) {
        continue;
      }
      if (c == COMPLEX) {
        complexSeen = true;
      }
      state = step[state * width + c];
      if (accepting[state]) {
        return Boolean.TRUE;
      }
    }
    return complexSeen && t.complex.matcher(kept(new String(utf8, StandardCharsets.UTF_8), t.keep)).find();
  }

  /** The code point of the well-formed UTF-8 sequence at `i` (lead byte >= 0x80), or -1. */
  private static int decode(byte[] s, int i) {
    int lead = s[i] & 0xFF;
    int need;
    int cp;
    int min;
    if (lead >= 0xC2 && lead <= 0xDF) {
      need = 1;
      cp = lead & 0x1F;
      min = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      need = 2;
      cp = lead & 0x0F;
      min = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      need = 3;
      cp = lead & 0x07;
      min = 0x10000;
    } else {
      return -1;
    }
    if (i + need >= s.length) {
      return -1;
    }
    for (int k = 1; k <= need; k++) {
      int b = s[i + k] & 0xFF;
      if ((b & 0xC0) != 0x80) {
        return -1;
      }
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return -1;
    }
    return cp;
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
