package dataplatform.pageviews;

import org.apache.spark.TaskContext;
import org.apache.spark.memory.MemoryConsumer;
import org.apache.spark.memory.MemoryMode;
import org.apache.spark.memory.TaskMemoryManager;

/**
 * The heap a task's {@link TitleSums} holds, taken from Spark's execution memory as the table
 * grows. Why: a table of a real-size task is a few hundred MB of arrays Spark would otherwise not
 * know about: it kept its caches and gave other tasks memory as if they were not there, and a
 * week's run on a small driver could end in an OutOfMemoryError. Asked this way, Spark evicts
 * cached blocks to make room, or refuses: the reader then emits the table's rows (partial sums,
 * summed downstream like any task's) and goes on with an empty one. It cannot spill on demand.
 */
final class TableMemory extends MemoryConsumer {
  private final long cap;

  private TableMemory(TaskMemoryManager memory, long cap) {
    super(memory, MemoryMode.ON_HEAP);
    this.cap = cap;
  }

  /** The running task's table memory, at most {@code cap} bytes; null outside a Spark task. */
  static TableMemory forTask(long cap) {
    TaskContext task = TaskContext.get();
    return task == null ? null : new TableMemory(task.taskMemoryManager(), cap);
  }

  /**
   * Whether the table may take {@code bytes} more; {@code force}: it must (an empty table that
   * cannot hold one line), and takes them whatever Spark grants.
   */
  boolean grow(long bytes, boolean force) {
    if (!force && getUsed() + bytes > cap) {
      return false;
    }
    long granted = acquireMemory(bytes);
    if (granted < bytes && !force) {
      freeMemory(granted);
      return false;
    }
    return true;
  }

  /** The table is gone (its rows are out): all of its memory back to Spark. */
  void releaseAll() {
    freeMemory(getUsed());
  }

  @Override
  public long spill(long size, MemoryConsumer trigger) {
    return 0L; // its rows go out when it is full, not on another consumer's demand
  }
}
