package dataplatform.sqldump;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CodecPool;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;
import org.apache.hadoop.io.compress.Decompressor;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.codegen.UnsafeRowWriter;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Streams one dump file and returns the schema's columns of every tuple of every {@code INSERT}.
 *
 * <p>The rules mirror jobs/wikimedia_pageviews/sqldump.py (a differential test compares the two):
 * the header is the first {@code CREATE TABLE} before the first {@code INSERT}; between
 * statements anything up to the next {@code INSERT INTO `t` [(cols)] VALUES} is skipped; a tuple
 * holds quoted strings (backslash escapes {@code \0 \n \r \t \Z \b}, any other escaped byte
 * stands for itself), {@code NULL} or bare numbers; a string's bytes become text as Python's
 * {@code decode("utf-8", errors="replace")} does. A malformed dump fails the task with a one-line
 * {@link SqlDumpException}, never skips a tuple. Memory: a 1 MiB buffer that grows only for a
 * longer tuple (at most 64 MiB) or a preamble (at most 16 MiB), one row, and the few blocks a
 * compressed file is inflated ahead by ({@link ReadAhead}).
 */
final class SqlDumpReader implements PartitionReader<InternalRow> {
  private static final int BUFFER = 1 << 20;
  private static final int MAX_PREAMBLE = 16 << 20;
  private static final int MAX_TUPLE = 64 << 20;
  private static final byte[] INSERT = "INSERT INTO `".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] VALUES = "VALUES".getBytes(StandardCharsets.US_ASCII);
  private static final Pattern CREATE =
      Pattern.compile("CREATE TABLE `([^`]+)` \\((.*?)\\n\\)", Pattern.DOTALL);
  private static final Pattern COLUMN = Pattern.compile("^\\s*`([^`]+)`\\s", Pattern.MULTILINE | Pattern.UNIX_LINES);
  private static final int NEED_MORE = -2;
  private static final byte NULL = 0;
  private static final byte TEXT = 1;
  private static final byte BARE = 2;
  private static final int LONG = 0;
  private static final int INT = 1;
  private static final int STRING = 2;

  private final Configuration conf;
  private final String path;
  private final String name;
  private final StructType schema;
  private final int[] types;
  private final UnsafeRowWriter writer;

  private InputStream in;
  private Decompressor decompressor;
  private boolean done;
  private byte[] buf = new byte[BUFFER];
  private int pos;
  private int limit;
  private boolean eof;
  private boolean inValues;

  /** Header: the dump's columns, and for each schema column its index there (-1: absent). */
  private String[] columns;
  private int[] source;
  /** The fields of the current tuple: kind, bounds (inside the quotes), has a backslash. */
  private byte[] kind = new byte[16];
  private int[] start = new int[16];
  private int[] end = new int[16];
  private boolean[] escaped = new boolean[16];
  private int fields;
  private byte[] text = new byte[256];
  private byte[] repaired = new byte[768];

  SqlDumpReader(Configuration conf, String path, StructType schema) {
    this.conf = conf;
    this.path = path;
    this.name = new Path(path).getName();
    this.schema = schema;
    this.types = new int[schema.fields().length];
    for (int i = 0; i < types.length; i++) {
      DataType type = schema.fields()[i].dataType();
      types[i] = type.equals(DataTypes.LongType) ? LONG : type.equals(DataTypes.IntegerType) ? INT : STRING;
    }
    this.writer = new UnsafeRowWriter(types.length, 64);
  }

  @Override
  public boolean next() throws IOException {
    if (done) {
      return false;
    }
    try {
      if (in == null) {
        open();
      }
      if (advance()) {
        return true;
      }
      done = true;
      closeStream();
      return false;
    } catch (IOException e) {
      throw new IOException("SQL dump " + name + ": cannot read " + path + ": " + e.getMessage(), e);
    }
  }

  @Override
  public InternalRow get() {
    return writer.getRow();
  }

  @Override
  public void close() throws IOException {
    closeStream();
  }

  private void open() throws IOException {
    Path file = new Path(path);
    InputStream raw = file.getFileSystem(conf).open(file, BUFFER);
    CompressionCodec codec = new CompressionCodecFactory(conf).getCodec(file);
    if (codec == null) {
      in = raw;
    } else {
      decompressor = CodecPool.getDecompressor(codec);
      in = new ReadAhead(codec.createInputStream(raw, decompressor), name);
    }
  }

  private void closeStream() throws IOException {
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

  private SqlDumpException error(String message) {
    return new SqlDumpException("SQL dump " + name + ": " + message);
  }

  /** Moves to the next tuple and writes its row; false at the end of the dump. */
  private boolean advance() throws IOException {
    if (!inValues) {
      if (!seekInsert()) {
        if (columns == null) {
          header(limit); // raises the clearer error when there is no table
        }
        return false;
      }
      inValues = true;
    }
    skipSeparators();
    if (pos >= limit || buf[pos] != '(') {
      throw error("truncated or malformed tuple near " + near(pos));
    }
    int after = tuple();
    if (fields != columns.length) {
      throw error("a tuple of " + fields + " values does not fit the CREATE TABLE");
    }
    writeRow();
    pos = after;
    // After a tuple: `,` then the next one, or `;` ending the statement.
    skipSeparators();
    if (pos >= limit) {
      throw error("INSERT statement not terminated by ';'");
    }
    byte c = buf[pos];
    if (c == ',') {
      pos++;
    } else if (c == ';') {
      pos++;
      inValues = false;
    } else {
      throw error("unexpected " + near(pos, 1) + " after a tuple");
    }
    return true;
  }

  /**
   * Reads more of the stream, first dropping the bytes before {@code keep} (positions shift by
   * {@code keep}); grows the buffer when it is full. False at the end of the stream.
   */
  private boolean more(int keep, int max) throws IOException {
    if (keep > 0) {
      System.arraycopy(buf, keep, buf, 0, limit - keep);
      limit -= keep;
      pos -= keep;
    }
    if (limit == buf.length) {
      if (buf.length >= max) {
        throw error(max == MAX_TUPLE ? "a tuple longer than 64 MB" : "no INSERT within the first 16 MB");
      }
      buf = Arrays.copyOf(buf, Math.min(max, buf.length * 2));
    }
    while (true) {
      int n = in.read(buf, limit, buf.length - limit);
      if (n < 0) {
        eof = true;
        return false;
      }
      if (n > 0) {
        limit += n;
        return true;
      }
    }
  }

  private static boolean isSeparator(byte c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
  }

  /** Python's bytes `\s`: space, \t, \n, \v, \f, \r. */
  private static boolean isSpace(byte c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
  }

  private void skipSeparators() throws IOException {
    while (true) {
      while (pos < limit && isSeparator(buf[pos])) {
        pos++;
      }
      if (pos < limit || eof) {
        return;
      }
      more(pos, MAX_TUPLE);
    }
  }

  // --- statements ------------------------------------------------------------------------------

  /** Finds the next INSERT; leaves pos after its `VALUES` and blanks. False at the end. */
  private boolean seekInsert() throws IOException {
    while (true) {
      int i = indexOf(INSERT, pos, limit);
      if (i >= 0) {
        int matched = matchInsert(i);
        if (matched >= 0) {
          if (columns == null) {
            header(i);
          }
          pos = matched;
          return true;
        }
        if (matched == NEED_MORE) {
          pos = i;
          more(columns == null ? 0 : i, columns == null ? MAX_PREAMBLE : MAX_TUPLE);
        } else {
          pos = i + 1;
        }
        continue;
      }
      if (eof) {
        pos = limit;
        return false;
      }
      pos = Math.max(pos, limit - (INSERT.length - 1));
      // Until the header is known the whole preamble is kept; afterwards only the tail.
      more(columns == null ? 0 : pos, columns == null ? MAX_PREAMBLE : MAX_TUPLE);
    }
  }

  /**
   * Matches {@code INSERT INTO `t`(?:\s*\([^)]*\))?\s+VALUES\s*} at {@code i}: the end of the match,
   * -1 when there is none here, NEED_MORE when the buffer ends first (never at the end of stream).
   */
  private int matchInsert(int i) {
    int j = i + INSERT.length;
    int nameStart = j;
    while (j < limit && buf[j] != '`') {
      j++;
    }
    if (j >= limit) {
      return eof ? -1 : NEED_MORE;
    }
    if (j == nameStart) {
      return -1;
    }
    int afterName = j + 1;
    int k = afterName;
    while (k < limit && isSpace(buf[k])) {
      k++;
    }
    if (k >= limit) {
      return eof ? -1 : NEED_MORE;
    }
    if (buf[k] == '(') {
      int close = k + 1;
      while (close < limit && buf[close] != ')') {
        close++;
      }
      if (close >= limit) {
        if (!eof) {
          return NEED_MORE;
        }
      } else {
        int withList = matchValues(close + 1);
        if (withList != -1) {
          return withList;
        }
      }
    }
    return matchValues(afterName);
  }

  /** Matches {@code \s+VALUES\s*} at {@code j}. */
  private int matchValues(int j) {
    int k = j;
    while (k < limit && isSpace(buf[k])) {
      k++;
    }
    if (k + VALUES.length > limit) {
      return eof ? -1 : NEED_MORE;
    }
    if (k == j || !Arrays.equals(buf, k, k + VALUES.length, VALUES, 0, VALUES.length)) {
      return -1;
    }
    k += VALUES.length;
    while (k < limit && isSpace(buf[k])) {
      k++;
    }
    return k;
  }

  private static int indexOf(byte[] b, int from, int to, byte[] what) {
    outer:
    for (int i = from; i <= to - what.length; i++) {
      if (b[i] != what[0]) {
        continue;
      }
      for (int k = 1; k < what.length; k++) {
        if (b[i + k] != what[k]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  private int indexOf(byte[] what, int from, int to) {
    return indexOf(buf, from, to, what);
  }

  /** Parses the first CREATE TABLE in {@code buf[0, end)} and maps the schema's columns to it. */
  private void header(int end) {
    String preamble = new String(buf, 0, end, StandardCharsets.ISO_8859_1);
    Matcher create = CREATE.matcher(preamble);
    if (!create.find()) {
      throw error("no CREATE TABLE before its first INSERT");
    }
    Matcher column = COLUMN.matcher(create.group(2));
    java.util.List<String> found = new java.util.ArrayList<>();
    while (column.find()) {
      found.add(new String(column.group(1).getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8));
    }
    if (found.isEmpty()) {
      throw error("CREATE TABLE `" + create.group(1) + "` lists no column");
    }
    columns = found.toArray(String[]::new);
    StructField[] wanted = schema.fields();
    source = new int[wanted.length];
    for (int i = 0; i < wanted.length; i++) {
      source[i] = -1;
      for (int c = 0; c < columns.length; c++) {
        if (columns[c].equals(wanted[i].name())) {
          source[i] = c; // the last one wins, as in the Python parser's dict
        }
      }
    }
  }

  // --- tuples ----------------------------------------------------------------------------------

  /** Cuts the tuple opening at pos into fields; returns the position after its `)`. */
  private int tuple() throws IOException {
    while (true) {
      int after = cutTuple();
      if (after != NEED_MORE) {
        return after;
      }
      if (eof) {
        throw error("truncated or malformed tuple near " + near(pos));
      }
      more(pos, MAX_TUPLE);
    }
  }

  private void addField(byte k, int s, int e, boolean esc) {
    if (fields == kind.length) {
      int n = fields * 2;
      kind = Arrays.copyOf(kind, n);
      start = Arrays.copyOf(start, n);
      end = Arrays.copyOf(end, n);
      escaped = Arrays.copyOf(escaped, n);
    }
    kind[fields] = k;
    start[fields] = s;
    end[fields] = e;
    escaped[fields] = esc;
    fields++;
  }

  private int cutTuple() {
    byte[] b = buf;
    int lim = limit;
    int p = pos + 1;
    fields = 0;
    while (true) {
      if (p >= lim) {
        return NEED_MORE;
      }
      if (b[p] == '\'') {
        int s = ++p;
        boolean esc = false;
        while (true) {
          if (p >= lim) {
            return NEED_MORE;
          }
          byte c = b[p];
          if (c == '\'') {
            break;
          }
          if (c == '\\') {
            esc = true;
            p += 2;
          } else {
            p++;
          }
        }
        addField(TEXT, s, p, esc);
        p++;
      } else {
        int s = p;
        while (true) {
          if (p >= lim) {
            return NEED_MORE;
          }
          byte c = b[p];
          if (c == ',' || c == ')') {
            break;
          }
          if (c == '\'' || c == '(') {
            throw error("unparsable value near " + near(s));
          }
          p++;
        }
        if (p == s) {
          throw error("unparsable value near " + near(s));
        }
        boolean isNull = p - s == 4 && b[s] == 'N' && b[s + 1] == 'U' && b[s + 2] == 'L' && b[s + 3] == 'L';
        if (!isNull && !isNumber(b, s, p)) {
          throw error("unparsable value near " + near(s));
        }
        addField(isNull ? NULL : BARE, s, p, false);
      }
      if (p >= lim) {
        return NEED_MORE;
      }
      if (b[p] == ',') {
        p++;
      } else if (b[p] == ')') {
        return p + 1;
      } else {
        throw error("unparsable value near " + near(p));
      }
    }
  }

  private void writeRow() {
    writer.reset();
    writer.zeroOutNullBytes();
    for (int i = 0; i < types.length; i++) {
      int f = source[i];
      if (f < 0 || kind[f] == NULL) {
        writer.setNullAt(i);
        continue;
      }
      if (types[i] == STRING) {
        if (kind[f] != TEXT) {
          throw error("column " + columns[f] + ": " + near(start[f], end[f] - start[f]) + " is not a quoted string");
        }
        writeText(i, f);
      } else {
        if (kind[f] != BARE) {
          throw error("column " + columns[f] + ": a quoted string where a number is expected");
        }
        long value = parseInteger(f, types[i] == INT);
        if (types[i] == INT) {
          writer.write(i, (int) value);
        } else {
          writer.write(i, value);
        }
      }
    }
  }

  /** The string field {@code f} unescaped and made valid UTF-8, written at {@code ordinal}. */
  private void writeText(int ordinal, int f) {
    byte[] src = buf;
    int s = start[f];
    int len = end[f] - s;
    if (escaped[f]) {
      if (text.length < len) {
        text = new byte[Math.max(len, text.length * 2)];
      }
      len = unescape(buf, s, end[f], text);
      src = text;
      s = 0;
    }
    int bad = firstInvalidUtf8(src, s, s + len);
    if (bad < 0) {
      writer.write(ordinal, src, s, len);
      return;
    }
    if (repaired.length < 3 * len) {
      repaired = new byte[Math.max(3 * len, repaired.length * 2)];
    }
    int n = repairUtf8(src, s, s + len, repaired);
    writer.write(ordinal, repaired, 0, n);
  }

  /** MySQL's string escapes, as the Python parser reads them: `\x` is x unless listed. */
  static int unescape(byte[] b, int s, int e, byte[] out) {
    int o = 0;
    for (int i = s; i < e; i++) {
      byte c = b[i];
      if (c == '\\' && i + 1 < e) {
        c = b[++i];
        switch (c) {
          case '0' -> c = 0;
          case 'n' -> c = '\n';
          case 'r' -> c = '\r';
          case 't' -> c = '\t';
          case 'Z' -> c = 0x1a;
          case 'b' -> c = '\b';
          default -> { }
        }
      }
      out[o++] = c;
    }
    return o;
  }

  /** The index of the first byte of an ill-formed UTF-8 sequence in b[s, e), or -1. */
  static int firstInvalidUtf8(byte[] b, int s, int e) {
    int i = s;
    while (i < e) {
      if (b[i] >= 0) {
        i++;
        continue;
      }
      int n = sequence(b, i, e);
      if (n < 0) {
        return i;
      }
      i += n;
    }
    return -1;
  }

  /**
   * The length of the well-formed UTF-8 sequence at i (lead byte >= 0x80), or -(length of its
   * maximal valid prefix, at least 1): the bytes Python's "replace" turns into one U+FFFD.
   */
  private static int sequence(byte[] b, int i, int e) {
    int lead = b[i] & 0xff;
    int need;
    int lo = 0x80;
    int hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      need = 1;
    } else if (lead == 0xE0) {
      need = 2;
      lo = 0xA0;
    } else if (lead == 0xED) {
      need = 2;
      hi = 0x9F;
    } else if (lead >= 0xE1 && lead <= 0xEF) {
      need = 2;
    } else if (lead == 0xF0) {
      need = 3;
      lo = 0x90;
    } else if (lead == 0xF4) {
      need = 3;
      hi = 0x8F;
    } else if (lead >= 0xF1 && lead <= 0xF3) {
      need = 3;
    } else {
      return -1;
    }
    int j = i + 1;
    for (int k = 0; k < need; k++, j++) {
      if (j >= e) {
        return -(j - i);
      }
      int c = b[j] & 0xff;
      boolean ok = k == 0 ? c >= lo && c <= hi : c >= 0x80 && c <= 0xBF;
      if (!ok) {
        return -(j - i);
      }
    }
    return need + 1;
  }

  /** b[s, e) with each maximal ill-formed subpart replaced by U+FFFD, as CPython decodes. */
  static int repairUtf8(byte[] b, int s, int e, byte[] out) {
    int o = 0;
    int i = s;
    while (i < e) {
      if (b[i] >= 0) {
        out[o++] = b[i++];
        continue;
      }
      int n = sequence(b, i, e);
      if (n > 0) {
        System.arraycopy(b, i, out, o, n);
        o += n;
        i += n;
      } else {
        out[o++] = (byte) 0xEF;
        out[o++] = (byte) 0xBF;
        out[o++] = (byte) 0xBD;
        i += -n;
      }
    }
    return o;
  }

  // --- numbers ---------------------------------------------------------------------------------

  /**
   * Whether b[s, e) is a number as Python's int() or float() reads it (ASCII blanks around, a
   * sign, digits, a fraction, an exponent, inf or nan); digit-group underscores are not accepted.
   */
  static boolean isNumber(byte[] b, int s, int e) {
    while (s < e && isSpace(b[s])) {
      s++;
    }
    while (e > s && isSpace(b[e - 1])) {
      e--;
    }
    if (s < e && (b[s] == '+' || b[s] == '-')) {
      s++;
    }
    if (s == e) {
      return false;
    }
    if ((b[s] | 0x20) == 'i' || (b[s] | 0x20) == 'n') {
      String word = new String(b, s, e - s, StandardCharsets.ISO_8859_1);
      return word.equalsIgnoreCase("inf") || word.equalsIgnoreCase("infinity") || word.equalsIgnoreCase("nan");
    }
    int i = s;
    int digits = 0;
    while (i < e && b[i] >= '0' && b[i] <= '9') {
      i++;
      digits++;
    }
    if (i < e && b[i] == '.') {
      i++;
      while (i < e && b[i] >= '0' && b[i] <= '9') {
        i++;
        digits++;
      }
    }
    if (digits == 0) {
      return false;
    }
    if (i < e && (b[i] == 'e' || b[i] == 'E')) {
      i++;
      if (i < e && (b[i] == '+' || b[i] == '-')) {
        i++;
      }
      int exponent = 0;
      while (i < e && b[i] >= '0' && b[i] <= '9') {
        i++;
        exponent++;
      }
      if (exponent == 0) {
        return false;
      }
    }
    return i == e;
  }

  /** The integer of bare field f (Python int(): blanks around, a sign, digits), range-checked. */
  private long parseInteger(int f, boolean asInt) {
    byte[] b = buf;
    int s = start[f];
    int e = end[f];
    while (s < e && isSpace(b[s])) {
      s++;
    }
    while (e > s && isSpace(b[e - 1])) {
      e--;
    }
    boolean negative = false;
    if (s < e && (b[s] == '+' || b[s] == '-')) {
      negative = b[s] == '-';
      s++;
    }
    if (s == e) {
      throw notInteger(f, asInt);
    }
    long value = 0;
    for (int i = s; i < e; i++) {
      int d = b[i] - '0';
      if (d < 0 || d > 9) {
        throw notInteger(f, asInt);
      }
      // Accumulated negatively, so Long.MIN_VALUE fits.
      if (value < (Long.MIN_VALUE + d) / 10) {
        throw notInteger(f, asInt);
      }
      value = value * 10 - d;
    }
    if (!negative) {
      if (value == Long.MIN_VALUE) {
        throw notInteger(f, asInt);
      }
      value = -value;
    }
    if (asInt && (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE)) {
      throw notInteger(f, true);
    }
    return value;
  }

  private SqlDumpException notInteger(int f, boolean asInt) {
    return error("column " + columns[f] + ": " + near(start[f], end[f] - start[f])
        + " is not " + (asInt ? "an int" : "a bigint"));
  }

  private String near(int at) {
    return near(at, 60);
  }

  /** Up to n bytes from `at`, quoted as Python shows bytes: printable ASCII, else escapes. */
  private String near(int at, int n) {
    StringBuilder out = new StringBuilder("b'");
    int stop = Math.min(limit, at + Math.min(n, 60));
    for (int i = Math.max(0, at); i < stop; i++) {
      int c = buf[i] & 0xff;
      if (c == '\\' || c == '\'') {
        out.append('\\').append((char) c);
      } else if (c == '\n') {
        out.append("\\n");
      } else if (c == '\r') {
        out.append("\\r");
      } else if (c == '\t') {
        out.append("\\t");
      } else if (c >= 0x20 && c < 0x7f) {
        out.append((char) c);
      } else {
        out.append(String.format("\\x%02x", c));
      }
    }
    return out.append('\'').toString();
  }
}
