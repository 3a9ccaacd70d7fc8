const GTID_COMMENT = Buffer.from("gtid_slave_pos='", 'latin1');

/**
 * MariaDB's `gtid_slave_pos='...'` comment: `--master-data --gtid` writes the binlog coordinates at the top but
 * the GTID position "later in the file", past the head read for the coordinates once a dump is more than a few
 * MB. It is fed the dump's statement-level line comments by the InsertCounter, whose lexer already tells a
 * comment from row data. Searching every dumped byte for the words instead cost ~0.22 s of CPU per 0.5 GB, as
 * much as counting the rows, on a task whose cores also run the dump tool and zstd.
 */
export class GtidCommentWatch {
  private found: string | undefined;

  /** One line comment's text; the first that holds the position wins. */
  public comment(text: Buffer): void {
    if (this.found !== undefined) {
      return;
    }
    const at = text.indexOf(GTID_COMMENT);
    if (at === -1) {
      return;
    }
    const end = text.indexOf(0x27, at + GTID_COMMENT.length);
    if (end !== -1) {
      this.found = text.toString('latin1', at + GTID_COMMENT.length, end);
    }
  }

  /** The GTID position, once seen. */
  public get gtid(): string | undefined {
    return this.found || undefined;
  }
}
