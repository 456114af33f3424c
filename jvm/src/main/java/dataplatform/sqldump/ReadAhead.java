package dataplatform.sqldump;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Decompresses ahead in a thread of its own: the parser works on one block while the next one is
 * inflated. A dump is one gzip stream, so it is one task; inflating and parsing are about equal
 * shares of its time (bench/sqldump_parse.py), and this overlap is the one way to shorten the
 * longest task of the dimensions (categorylinks) without splitting the stream. Bounded: at most
 * {@code BLOCKS} blocks of {@code BLOCK} bytes are held. A read error is raised by the next read.
 */
final class ReadAhead extends InputStream {
  private static final int BLOCK = 1 << 20;
  private static final int BLOCKS = 4;

  private record Block(byte[] data, int length, IOException error) {}

  private static final Block END = new Block(new byte[0], -1, null);

  private final InputStream in;
  private final BlockingQueue<Block> full = new ArrayBlockingQueue<>(BLOCKS);
  private final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(BLOCKS + 2);
  private final Thread thread;
  private volatile boolean closed;
  private Block current;
  private int offset;

  ReadAhead(InputStream in, String name) {
    this.in = in;
    for (int i = 0; i < BLOCKS + 2; i++) {
      free.add(new byte[BLOCK]);
    }
    thread = new Thread(this::produce, "sqldump-inflate " + name);
    thread.setDaemon(true);
    thread.start();
  }

  private void produce() {
    try {
      while (!closed) {
        byte[] data = free.take();
        int n = 0;
        while (n < data.length) {
          int got = in.read(data, n, data.length - n);
          if (got < 0) {
            break;
          }
          n += got;
        }
        if (n > 0) {
          full.put(new Block(data, n, null));
        }
        if (n < data.length) {
          full.put(END);
          return;
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (IOException e) {
      full.offer(new Block(null, 0, e));
    }
  }

  /** The next block with bytes left, or null at the end. */
  private Block block() throws IOException {
    while (true) {
      if (current == END) {
        return null;
      }
      if (current != null && offset < current.length()) {
        return current;
      }
      if (current != null) {
        free.offer(current.data());
      }
      try {
        current = full.take();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while reading the dump");
      }
      offset = 0;
      if (current.error() != null) {
        throw current.error();
      }
    }
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (len == 0) {
      return 0;
    }
    Block block = block();
    if (block == null) {
      return -1;
    }
    int n = Math.min(len, block.length() - offset);
    System.arraycopy(block.data(), offset, b, off, n);
    offset += n;
    return n;
  }

  @Override
  public int read() throws IOException {
    Block block = block();
    return block == null ? -1 : block.data()[offset++] & 0xff;
  }

  @Override
  public void close() throws IOException {
    closed = true;
    thread.interrupt();
    full.clear();
    try {
      in.close(); // also ends a read the thread is blocked in
      thread.join(TimeUnit.SECONDS.toMillis(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
