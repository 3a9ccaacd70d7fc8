import { describe, expect, it } from 'vitest';
import { GtidCommentWatch } from '../../../engines/mysql/gtid-comment';
import { InsertCounter } from '../../../engines/mysql/insert-counter';

describe("MariaDB's GTID comment, printed past the dump's head", () => {
  /** The dump fed to a row counter in `size`-byte chunks, its line comments to a watch, as the backup wires them. */
  const watchDump = (bytes: Buffer, size: number) => {
    const watch = new GtidCommentWatch();
    const counter = new InsertCounter(undefined, (text) => watch.comment(text));
    for (let at = 0; at < bytes.length; at += size) {
      counter.write(bytes.subarray(at, at + size));
    }
    counter.end();
    return watch;
  };

  it('finds gtid_slave_pos in a comment, keeps the first, and ignores the words inside row data', () => {
    // Prepare: row data that holds the words, before and after the comment
    const text =
      "INSERT INTO t VALUES (1,'-- SET GLOBAL gtid_slave_pos=\\'9-9-9\\''),(2,'gtid_slave_pos=''8-8-8''');\n" +
      "-- SET GLOBAL gtid_slave_pos='0-1-42';\n-- SET GLOBAL gtid_slave_pos='7-7-7';\n" +
      "INSERT INTO t VALUES (3,'\n-- SET GLOBAL gtid_slave_pos=''6-6-6'';\n');\n";

    // Act
    const watch = watchDump(Buffer.from(text), 7);

    // Assess
    expect(watch.gtid).toBe('0-1-42');
  });

  it('reads a GTID list that the chunk boundary cuts, and finds the comment at any cut of the stream', () => {
    // Prepare: a dump with the comment after 200 kB of rows, a three-domain GTID list
    const rows = `INSERT INTO t VALUES ${Array.from({ length: 5000 }, (_, i) => `(${i},'row ${i}')`).join(',')};\n`;
    const text = `${rows}-- SET GLOBAL gtid_slave_pos='0-1-42,1-2-7,2-3-99';\n${rows}`;
    const bytes = Buffer.from(text, 'latin1');
    for (const size of [1, 5, 15, 16, 17, 4096, 65_536, bytes.length]) {
      // Act
      const watch = watchDump(bytes, size);

      // Assess
      expect(watch.gtid).toBe('0-1-42,1-2-7,2-3-99');
    }
  });

  it('finds nothing in a dump without the comment, or with an unterminated one', () => {
    // Prepare
    const text = "INSERT INTO t VALUES (1,'gtid_slave_pos'),(2,'gtid_slave_pos=');\n-- Dump completed\n-- gtid_slave_pos='0-1";

    // Act
    const watch = watchDump(Buffer.from(text), 10);

    // Assess
    expect(watch.gtid).toBeUndefined();
  });

  it('keeps only the first position when rows inside the data spell a comment at the start of a line', () => {
    // Prepare: the only real comment comes after a row whose string holds a line that looks like one
    const text = "INSERT INTO t VALUES (1,'x\n-- SET GLOBAL gtid_slave_pos=''5-5-5'';\n');\n";

    // Act
    const watch = watchDump(Buffer.from(text), 3);

    // Assess
    expect(watch.gtid).toBeUndefined();
  });
});
