/**
 * Row counts read from a mysqldump/mariadb-dump stream as it passes to zstd, so the inventory comes from the very
 * snapshot that was dumped (`exact: true`) and costs the source nothing: each top-level tuple of an
 * `INSERT INTO \`t\` VALUES (...),(...);` is one row, and every `CREATE TABLE` names a table (empty ones have no
 * INSERT). The lexer follows what the mysql client follows when it splits a dump into statements: quotes with
 * backslash escapes, quoted identifiers with doubled backticks, `--`, `#` and block comments (versioned
 * `/*!...*\/` ones hold view placeholders, which are not tables), `DELIMITER` (routine and trigger bodies,
 * which may contain INSERTs, are not counted), and `USE`/`CREATE DATABASE` for dumps of several databases.
 *
 * Speed: nearly every byte of a dump sits inside the VALUES lists, mostly in strings, so those are skipped with
 * Buffer.indexOf (memchr) and a plain loop over the bytes between them; nothing is decoded but identifiers,
 * whose bytes are collected first, so a multi-byte character split between two chunks decodes whole.
 */

export interface DumpedTable {
  /** The database the dump was in when it created the table; undefined for a single-database dump's default. */
  readonly database: string | undefined;
  readonly name: string;
  readonly kind: 'table' | 'sequence';
  /** Tuples in its INSERT statements (a sequence has none; its one row is its state). */
  readonly rows: number;
}

/** The dump does not read as mysqldump/mariadb-dump output, so its rows cannot be counted. */
export class DumpParseError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'DumpParseError';
  }
}

// Lexer states. Statement level:
const NORMAL = 0;
const SQUOTE = 1;
const SQUOTE_ESCAPE = 2;
const DQUOTE = 3;
const DQUOTE_ESCAPE = 4;
const BACKTICK = 5;
/** A backtick inside a quoted identifier: doubled (part of the name) or the end of it. */
const BACKTICK_END = 6;
const LINE_COMMENT = 7;
const BLOCK_COMMENT = 8;
const BLOCK_COMMENT_STAR = 9;
/** One `-` seen: a comment if another and a space follow. */
const DASH = 10;
const DASH_DASH = 11;
const SLASH = 12;
/** After the word DELIMITER: the new delimiter, up to white space. */
const DELIMITER_ARGUMENT = 13;
/** The rest of the DELIMITER line. */
const DELIMITER_LINE = 14;
// Inside an INSERT's VALUES list:
const VALUES = 20;
const VALUE_SQUOTE = 21;
const VALUE_SQUOTE_ESCAPE = 22;
const VALUE_DQUOTE = 23;
const VALUE_DQUOTE_ESCAPE = 24;

// What the words of a statement's head have said so far.
/** Not a statement whose head matters (or inside a DELIMITER block, where only DELIMITER itself is). */
const HEAD_OFF = 0;
const HEAD_FIRST = 1;
/** INSERT/REPLACE, before the table name. */
const HEAD_INSERT = 2;
const HEAD_INSERT_TABLE = 3;
const HEAD_INSERT_DOT = 4;
const HEAD_INSERT_COLUMNS = 5;
/** CREATE, before TABLE/SEQUENCE/DATABASE. */
const HEAD_CREATE = 6;
/** CREATE TABLE/SEQUENCE/DATABASE, before the name. */
const HEAD_CREATE_NAME = 7;
/** After a created table's name: `.` qualifies it, anything else confirms it. */
const HEAD_CREATE_NAMED = 8;
const HEAD_CREATE_DOT = 9;
const HEAD_USE = 10;

const BACKSLASH = 0x5c;
const SINGLE_QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const BACKTICK_BYTE = 0x60;
const SEMICOLON = 0x3b;
const OPEN = 0x28;
const CLOSE = 0x29;
const NEWLINE = 0x0a;

/** Identifier and keyword characters, including every byte of a multi-byte UTF-8 character. */
const WORD = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  WORD[c] =
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x24 || c >= 0x80 ? 1 : 0;
}

/** Longer than any identifier (64 characters of up to 4 bytes) or keyword; longer words are not names we need. */
const MAX_NAME_BYTES = 512;

/** What a statement-level line comment hands to `onComment` at most; the dump tools' own comments are far shorter. */
export const MAX_COMMENT_BYTES = 64 * 1024;

const INSERT_MODIFIERS = new Set(['LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY', 'IGNORE', 'INTO']);

interface Table {
  readonly database: string | undefined;
  readonly name: string;
  kind: 'table' | 'sequence';
  rows: number;
}

export class InsertCounter {
  private state = NORMAL;
  private head = HEAD_FIRST;
  private delimiter: Buffer = Buffer.from(';');
  /** Bytes of the delimiter matched so far (it may be split between chunks). */
  private delimiterMatched = 0;
  private database: string | undefined;
  private readonly tables = new Map<string, Table>();
  /** The table whose VALUES are being counted. */
  private target: Table | undefined;
  private depth = 0;
  /** The word or quoted identifier being read, as bytes. */
  private readonly name = Buffer.alloc(MAX_NAME_BYTES);
  private nameLength = 0;
  /** A word is being read (as opposed to nothing, or a quoted identifier). */
  private inWord = false;
  /** The first part of a qualified name (`db`.`t`), and what CREATE is creating. */
  private qualifier: string | undefined;
  private pendingName: string | undefined;
  private creating: 'table' | 'sequence' | 'database' | undefined;
  private problem: string | undefined;
  private bytes = 0;
  /** Next backslash and single quote at or after the scan position in the current chunk; -1: none, -2: not looked for. */
  private nextBackslash = -2;
  private nextQuote = -2;
  /** The line comment being read, for onComment: its bytes so far (copies, at most MAX_COMMENT_BYTES). */
  private comment: Buffer[] = [];
  private commentBytes = 0;

  /**
   * `onComment` sees the text of every statement-level line comment (`-- ...` and `# ...`, without the marker and
   * the newline), whole even when chunks cut it: the tools print facts there, such as MariaDB's GTID position,
   * and only the lexer knows a comment from the same words inside row data.
   */
  public constructor(
    defaultDatabase?: string,
    private readonly onComment?: (text: Buffer) => void,
  ) {
    this.database = defaultDatabase;
  }

  /** Bytes written so far. */
  public get bytesRead(): number {
    return this.bytes;
  }

  public write(chunk: Buffer): void {
    this.nextBackslash = -2;
    this.nextQuote = -2;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const state = this.state;
      if (state === VALUES) {
        i = this.values(chunk, i);
      } else if (state === VALUE_SQUOTE) {
        i = this.valueString(chunk, i);
      } else if (state === VALUE_SQUOTE_ESCAPE || state === VALUE_DQUOTE_ESCAPE) {
        this.state = state === VALUE_SQUOTE_ESCAPE ? VALUE_SQUOTE : VALUE_DQUOTE;
        i++;
      } else if (state === VALUE_DQUOTE) {
        i = this.valueDoubleQuoted(chunk, i);
      } else {
        i = this.statement(chunk, i);
      }
    }
    this.bytes += n;
  }

  /** The tables the dump created or filled, in dump order; throws when the dump did not end between statements. */
  public end(): DumpedTable[] {
    if (this.problem) {
      throw new DumpParseError(this.problem);
    }
    if (this.state >= VALUES) {
      throw new DumpParseError(
        `the dump ended inside the INSERT statement of ${this.describe(this.target)} (${this.bytes} bytes read), so it is incomplete`,
      );
    }
    if (this.state === LINE_COMMENT) {
      this.endComment();
    }
    if (this.state !== NORMAL && this.state !== LINE_COMMENT && this.state !== DASH && this.state !== SLASH) {
      throw new DumpParseError(
        `the dump ended inside a quoted string, identifier or comment (${this.bytes} bytes read), so it is incomplete`,
      );
    }
    return [...this.tables.values()].map(({ database, name, kind, rows }) => ({ database, name, kind, rows }));
  }

  private describe(table: Table | undefined): string {
    if (!table) {
      return 'an unknown table';
    }
    return table.database === undefined ? `\`${table.name}\`` : `\`${table.database}\`.\`${table.name}\``;
  }

  /** Counts the tuples of a VALUES list up to a string, the end of the statement or the end of the chunk. */
  private values(chunk: Buffer, start: number): number {
    const n = chunk.length;
    const target = this.target as Table;
    let depth = this.depth;
    let rows = 0;
    let i = start;
    for (; i < n; i++) {
      const c = chunk[i];
      if (c === SINGLE_QUOTE) {
        this.state = VALUE_SQUOTE;
        break;
      }
      if (c === OPEN) {
        if (depth === 0) {
          rows++;
        }
        depth++;
      } else if (c === CLOSE) {
        depth--;
      } else if (c === SEMICOLON && depth === 0) {
        this.state = NORMAL;
        this.endStatement();
        break;
      } else if (c === DOUBLE_QUOTE) {
        this.state = VALUE_DQUOTE;
        break;
      }
    }
    this.depth = depth;
    target.rows += rows;
    return i < n ? i + 1 : n;
  }

  /** Skips a single-quoted value (backslash escapes; a doubled quote reads as two adjacent strings). */
  private valueString(chunk: Buffer, start: number): number {
    const n = chunk.length;
    let i = start;
    for (;;) {
      let backslash = this.nextBackslash;
      if (backslash !== -1 && backslash < i) {
        backslash = chunk.indexOf(BACKSLASH, i);
        this.nextBackslash = backslash;
      }
      let quote = this.nextQuote;
      if (quote !== -1 && quote < i) {
        quote = chunk.indexOf(SINGLE_QUOTE, i);
        this.nextQuote = quote;
      }
      if (backslash !== -1 && (quote === -1 || backslash < quote)) {
        if (backslash + 1 >= n) {
          this.state = VALUE_SQUOTE_ESCAPE;
          return n;
        }
        i = backslash + 2;
        continue;
      }
      if (quote === -1) {
        return n;
      }
      this.state = VALUES;
      return quote + 1;
    }
  }

  /** Double-quoted values do not occur in the tools' output; they are followed byte by byte all the same. */
  private valueDoubleQuoted(chunk: Buffer, start: number): number {
    const n = chunk.length;
    for (let i = start; i < n; i++) {
      const c = chunk[i];
      if (c === BACKSLASH) {
        if (i + 1 >= n) {
          this.state = VALUE_DQUOTE_ESCAPE;
          return n;
        }
        i++;
      } else if (c === DOUBLE_QUOTE) {
        this.state = VALUES;
        return i + 1;
      }
    }
    return n;
  }

  /** Statement level, byte by byte (schema, settings, routines: a small part of a dump), until VALUES or the chunk's end. */
  private statement(chunk: Buffer, start: number): number {
    const n = chunk.length;
    let i = start;
    while (i < n) {
      const c = chunk[i];
      switch (this.state) {
        case NORMAL: {
          const delimiter = this.delimiter;
          if (c === delimiter[this.delimiterMatched]) {
            this.delimiterMatched++;
            if (this.delimiterMatched === delimiter.length) {
              this.delimiterMatched = 0;
              this.endWord();
              this.state = NORMAL;
              this.endStatement();
              i++;
              continue;
            }
          } else if (this.delimiterMatched > 0) {
            this.delimiterMatched = c === delimiter[0] ? 1 : 0;
          }
          if (WORD[c] === 1) {
            if (this.head !== HEAD_OFF) {
              if (!this.inWord) {
                this.inWord = true;
                this.nameLength = 0;
              }
              if (this.nameLength < MAX_NAME_BYTES) {
                this.name[this.nameLength] = c;
              }
              this.nameLength++;
            }
            i++;
            continue;
          }
          if (this.inWord) {
            if (this.endWord() && (c === 0x20 || c === 0x09)) {
              this.state = DELIMITER_ARGUMENT;
              this.nameLength = 0;
              i++;
              continue;
            }
            if (this.state !== NORMAL) {
              // VALUES began: this byte is its first.
              return i;
            }
          }
          i++;
          if (c === SINGLE_QUOTE) {
            this.state = SQUOTE;
            this.token('string');
          } else if (c === DOUBLE_QUOTE) {
            this.state = DQUOTE;
            this.token('string');
          } else if (c === BACKTICK_BYTE) {
            this.state = BACKTICK;
            this.nameLength = 0;
          } else if (c === 0x2d) {
            this.state = DASH;
          } else if (c === 0x23) {
            this.state = LINE_COMMENT;
          } else if (c === 0x2f) {
            this.state = SLASH;
          } else if (c > 0x20) {
            this.token(String.fromCharCode(c));
          }
          break;
        }
        case SQUOTE:
        case DQUOTE:
          if (c === BACKSLASH) {
            this.state = this.state === SQUOTE ? SQUOTE_ESCAPE : DQUOTE_ESCAPE;
          } else if (c === (this.state === SQUOTE ? SINGLE_QUOTE : DOUBLE_QUOTE)) {
            this.state = NORMAL;
          }
          i++;
          break;
        case SQUOTE_ESCAPE:
          this.state = SQUOTE;
          i++;
          break;
        case DQUOTE_ESCAPE:
          this.state = DQUOTE;
          i++;
          break;
        case BACKTICK:
          if (c === BACKTICK_BYTE) {
            this.state = BACKTICK_END;
          } else {
            this.addNameByte(c);
          }
          i++;
          break;
        case BACKTICK_END:
          if (c === BACKTICK_BYTE) {
            this.addNameByte(c);
            this.state = BACKTICK;
            i++;
          } else {
            this.state = NORMAL;
            this.identifier(this.takeName());
            if (this.state !== NORMAL) {
              return i;
            }
          }
          break;
        case DASH:
          if (c === 0x2d) {
            this.state = DASH_DASH;
            i++;
          } else {
            this.state = NORMAL;
            this.token('-');
          }
          break;
        case DASH_DASH:
          if (c <= 0x20) {
            this.state = c === NEWLINE ? NORMAL : LINE_COMMENT;
            i++;
          } else {
            this.state = NORMAL;
            this.token('-');
          }
          break;
        case SLASH:
          if (c === 0x2a) {
            this.state = BLOCK_COMMENT;
            i++;
          } else {
            this.state = NORMAL;
            this.token('/');
          }
          break;
        case LINE_COMMENT: {
          const end = chunk.indexOf(NEWLINE, i);
          if (this.onComment) {
            this.addCommentBytes(chunk.subarray(i, end < 0 ? n : end));
          }
          if (end < 0) {
            return n;
          }
          this.endComment();
          this.state = NORMAL;
          i = end + 1;
          break;
        }
        case BLOCK_COMMENT: {
          const star = chunk.indexOf(0x2a, i);
          if (star < 0) {
            return n;
          }
          this.state = BLOCK_COMMENT_STAR;
          i = star + 1;
          break;
        }
        case BLOCK_COMMENT_STAR:
          this.state = c === 0x2f ? NORMAL : c === 0x2a ? BLOCK_COMMENT_STAR : BLOCK_COMMENT;
          i++;
          break;
        case DELIMITER_ARGUMENT:
          if (c <= 0x20) {
            if (this.nameLength > 0) {
              this.delimiter = Buffer.from(this.name.subarray(0, Math.min(this.nameLength, MAX_NAME_BYTES)));
              this.delimiterMatched = 0;
              this.state = c === NEWLINE ? NORMAL : DELIMITER_LINE;
              if (c === NEWLINE) {
                this.endStatement();
              }
            } else if (c === NEWLINE) {
              this.problem = 'a DELIMITER command without a delimiter';
              this.state = NORMAL;
              this.endStatement();
            }
          } else {
            this.addNameByte(c);
          }
          i++;
          break;
        case DELIMITER_LINE: {
          const end = chunk.indexOf(NEWLINE, i);
          if (end < 0) {
            return n;
          }
          this.state = NORMAL;
          this.endStatement();
          i = end + 1;
          break;
        }
        default:
          return i;
      }
    }
    return n;
  }

  private addCommentBytes(bytes: Buffer): void {
    const room = MAX_COMMENT_BYTES - this.commentBytes;
    if (room > 0 && bytes.length > 0) {
      // A copy: the chunk is the stream's, and is reused or freed once write() returns.
      const kept = Buffer.from(bytes.subarray(0, room));
      this.comment.push(kept);
      this.commentBytes += kept.length;
    }
  }

  private endComment(): void {
    if (this.onComment) {
      const text = this.comment.length === 1 ? this.comment[0] : Buffer.concat(this.comment);
      this.comment = [];
      this.commentBytes = 0;
      this.onComment(text);
    }
  }

  private addNameByte(c: number): void {
    if (this.nameLength < MAX_NAME_BYTES) {
      this.name[this.nameLength] = c;
    }
    this.nameLength++;
  }

  private takeName(): string {
    const text = this.name.toString('utf8', 0, Math.min(this.nameLength, MAX_NAME_BYTES));
    this.nameLength = 0;
    return text;
  }

  /** Ends the word being read and hands it to the head; true when it is the DELIMITER command. */
  private endWord(): boolean {
    if (!this.inWord) {
      return false;
    }
    this.inWord = false;
    const word = this.takeName();
    const upper = word.toUpperCase();
    if (this.head === HEAD_FIRST) {
      if (upper === 'DELIMITER') {
        return true;
      }
      if (this.delimiter.length !== 1 || this.delimiter[0] !== SEMICOLON) {
        // Inside a DELIMITER block only DELIMITER matters: routine and trigger bodies hold statements of their own.
        this.head = HEAD_OFF;
        return false;
      }
    }
    this.word(word, upper);
    return false;
  }

  /** A keyword or unquoted name in a statement's head. */
  private word(word: string, upper: string): void {
    switch (this.head) {
      case HEAD_FIRST:
        this.head =
          upper === 'INSERT' || upper === 'REPLACE'
            ? HEAD_INSERT
            : upper === 'CREATE'
              ? HEAD_CREATE
              : upper === 'USE'
                ? HEAD_USE
                : HEAD_OFF;
        return;
      case HEAD_INSERT:
        if (!INSERT_MODIFIERS.has(upper)) {
          this.identifier(word);
        }
        return;
      case HEAD_INSERT_TABLE:
        if (upper === 'VALUES' || upper === 'VALUE') {
          this.startValues();
        } else {
          this.problem ??= `INSERT INTO ${this.describe(this.insertTarget())} ${upper} ...: only INSERT ... VALUES statements can be counted`;
          this.head = HEAD_OFF;
        }
        return;
      case HEAD_CREATE:
        if (upper === 'TABLE' || upper === 'SEQUENCE' || upper === 'DATABASE' || upper === 'SCHEMA') {
          this.creating = upper === 'TABLE' ? 'table' : upper === 'SEQUENCE' ? 'sequence' : 'database';
          this.head = HEAD_CREATE_NAME;
        } else if (upper !== 'OR' && upper !== 'REPLACE' && upper !== 'TEMPORARY') {
          this.head = HEAD_OFF;
        }
        return;
      case HEAD_CREATE_NAME:
        if (upper !== 'IF' && upper !== 'NOT' && upper !== 'EXISTS') {
          this.identifier(word);
        }
        return;
      case HEAD_INSERT_COLUMNS:
        return;
      default:
        this.identifier(word);
    }
  }

  /** A punctuation character or a string literal in a statement's head. */
  private token(token: string): void {
    switch (this.head) {
      case HEAD_FIRST:
        this.head = HEAD_OFF;
        return;
      case HEAD_INSERT_TABLE:
        if (token === '.') {
          this.head = HEAD_INSERT_DOT;
        } else if (token === '(') {
          this.head = HEAD_INSERT_COLUMNS;
          this.depth = 1;
        } else {
          this.problem ??= `INSERT INTO ${this.describe(this.insertTarget())} ${token} ...: only INSERT ... VALUES statements can be counted`;
          this.head = HEAD_OFF;
        }
        return;
      case HEAD_INSERT_COLUMNS:
        if (token === '(') {
          this.depth++;
        } else if (token === ')' && --this.depth === 0) {
          this.head = HEAD_INSERT_TABLE;
        }
        return;
      case HEAD_CREATE_NAMED:
        if (token === '.') {
          this.head = HEAD_CREATE_DOT;
        } else {
          this.created();
        }
        return;
      default:
        if (this.head !== HEAD_OFF) {
          this.head = HEAD_OFF;
        }
    }
  }

  /** A quoted identifier (or an unquoted name) in a statement's head. */
  private identifier(name: string): void {
    switch (this.head) {
      case HEAD_FIRST:
        this.head = HEAD_OFF;
        return;
      case HEAD_INSERT:
        this.qualifier = undefined;
        this.pendingName = name;
        this.head = HEAD_INSERT_TABLE;
        return;
      case HEAD_INSERT_DOT:
        this.qualifier = this.pendingName;
        this.pendingName = name;
        this.head = HEAD_INSERT_TABLE;
        return;
      case HEAD_CREATE_NAME:
        if (this.creating === 'database') {
          this.database = name;
          this.head = HEAD_OFF;
          return;
        }
        this.qualifier = undefined;
        this.pendingName = name;
        this.head = HEAD_CREATE_NAMED;
        return;
      case HEAD_CREATE_DOT:
        this.qualifier = this.pendingName;
        this.pendingName = name;
        this.created();
        return;
      case HEAD_CREATE_NAMED:
        this.created();
        return;
      case HEAD_USE:
        this.database = name;
        this.head = HEAD_OFF;
        return;
      case HEAD_INSERT_TABLE:
        this.problem ??= `INSERT INTO ${this.describe(this.insertTarget())} \`${name}\` ...: only INSERT ... VALUES statements can be counted`;
        this.head = HEAD_OFF;
        return;
      default:
    }
  }

  private tableOf(database: string | undefined, name: string): Table {
    const key = `${database ?? ''}\u0000${name}`;
    let table = this.tables.get(key);
    if (!table) {
      table = { database, name, kind: 'table', rows: 0 };
      this.tables.set(key, table);
    }
    return table;
  }

  private insertTarget(): Table {
    return this.tableOf(this.qualifier ?? this.database, this.pendingName ?? '');
  }

  private created(): void {
    if (this.pendingName !== undefined) {
      const table = this.tableOf(this.qualifier ?? this.database, this.pendingName);
      table.kind = this.creating === 'sequence' ? 'sequence' : 'table';
    }
    this.pendingName = undefined;
    this.qualifier = undefined;
    this.head = HEAD_OFF;
  }

  private startValues(): void {
    this.target = this.insertTarget();
    this.depth = 0;
    this.state = VALUES;
    this.head = HEAD_OFF;
  }

  private endStatement(): void {
    if (this.head === HEAD_CREATE_NAMED) {
      this.created();
    }
    if (this.head === HEAD_INSERT_TABLE || this.head === HEAD_INSERT_COLUMNS) {
      this.problem ??= `INSERT INTO ${this.describe(this.insertTarget())} without VALUES: only INSERT ... VALUES statements can be counted`;
    }
    this.head = HEAD_FIRST;
    this.inWord = false;
    this.nameLength = 0;
    this.pendingName = undefined;
    this.qualifier = undefined;
    this.creating = undefined;
    this.target = undefined;
  }
}
