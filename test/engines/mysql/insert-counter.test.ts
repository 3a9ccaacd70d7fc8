import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DumpedTable, DumpParseError, InsertCounter, MAX_COMMENT_BYTES } from '../../../engines/mysql/insert-counter';

/** Feeds `dump` to a counter in the given pieces and returns what it counted. */
function count(pieces: readonly Buffer[], database?: string): DumpedTable[] {
  const counter = new InsertCounter(database);
  for (const piece of pieces) {
    counter.write(piece);
  }
  return counter.end();
}

/** A mariadb-dump of two databases with everything a parser can trip over (the layout is the tool's own). */
const NASTY = Buffer.from(
  [
    '/*M!999999\\- enable the sandbox mode */ ',
    '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB',
    "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;",
    "-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=3034;",
    '# INSERT INTO `ghost` VALUES (1);',
    '--',
    '-- Current Database: `we``ird; db`',
    '--',
    'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `we``ird; db` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;',
    'USE `we``ird; db`;',
    'DROP SEQUENCE IF EXISTS `seq1`;',
    'CREATE SEQUENCE `seq1` start with 1 minvalue 1 maxvalue 9223372036854775806 increment by 1 cache 1000 nocycle ENGINE=InnoDB;',
    'DO SETVAL(`seq1`, 1, 0);',
    'CREATE TABLE `empty_t` (',
    "  `id` int(11) DEFAULT NULL COMMENT 'INSERT INTO `ghost` VALUES (1); it''s -- not a comment'",
    ') ENGINE=InnoDB;',
    'LOCK TABLES `empty_t` WRITE;',
    '/*!40000 ALTER TABLE `empty_t` DISABLE KEYS */;',
    '/*!40000 ALTER TABLE `empty_t` ENABLE KEYS */;',
    'UNLOCK TABLES;',
    'DELIMITER ;;',
    '/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER tr AFTER INSERT ON empty_t FOR EACH ROW INSERT INTO empty_t VALUES (NEW.id) ',
    '*/;;',
    'DELIMITER ;',
    'CREATE TABLE `t``1 (x)` (',
    '  `id` int(11) NOT NULL,',
    '  `s` text DEFAULT NULL,',
    "  `g` int(11) GENERATED ALWAYS AS (`id` * 2) VIRTUAL COMMENT 'a ) and a ;'",
    ") ENGINE=InnoDB COMMENT='it''s; a ) table';",
    'INSERT INTO `t``1 (x)` VALUES',
    "(1,'a\\'b;c)(,\\\\',0x00275C29,2,-1.50),",
    '(2,NULL,NULL,4,-0.00),',
    "(3,'Zoë 🚀\\n\\r\t\\0\\Z\\\"','',6,1e-5),",
    "(4,_binary '\\0\\'\\\\)(;',X'2829',8,NULL),",
    "(5,'\\\\','\\\\\\'',10,-7);",
    "INSERT INTO `t``1 (x)` (`id`, `s`, `we``ird (col)`) VALUES (6,'),(',NULL),(7,'','))');",
    '/*!50001 CREATE VIEW `v1` AS SELECT 1 AS `id` */;',
    '/*!50001 CREATE TABLE `old_view_placeholder` (`id` int) */;',
    'CREATE TABLE `日本語テーブル` (`名前` text);',
    "INSERT INTO `日本語テーブル` VALUES ('東京'),('大阪');",
    'DELIMITER ;;',
    'CREATE DEFINER=`root`@`%` PROCEDURE `p`()',
    'BEGIN',
    'INSERT INTO `empty_t` VALUES (1),(2);',
    'CREATE TABLE `made_by_p` (id int);',
    'END ;;',
    'DELIMITER ;',
    '--',
    '-- Current Database: `other`',
    '--',
    'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `other`;',
    'USE `other`;',
    'CREATE TABLE `a` (`id` int, `j` longtext);',
    'INSERT INTO `a` VALUES (1,\'{\\"a\\": \\"b;)\\"}\'),(2,\'[]\');',
    'INSERT IGNORE INTO `we``ird; db`.`empty_t` VALUES (9);',
    'REPLACE INTO a VALUES (3,NULL);',
    'INSERT INTO `a` VALUES (4,NULL);/* trailing */ INSERT INTO `a` VALUES (5,NULL);',
    '-- Dump completed on 2026-12-01 16:19:15',
    '',
  ].join('\n'),
);

const NASTY_COUNTS: DumpedTable[] = [
  { database: 'we`ird; db', name: 'seq1', kind: 'sequence', rows: 0 },
  { database: 'we`ird; db', name: 'empty_t', kind: 'table', rows: 1 },
  { database: 'we`ird; db', name: 't`1 (x)', kind: 'table', rows: 7 },
  { database: 'we`ird; db', name: '日本語テーブル', kind: 'table', rows: 2 },
  { database: 'other', name: 'a', kind: 'table', rows: 5 },
];

describe('InsertCounter', () => {
  it('counts the tuples of every INSERT, per database, past strings, escapes, comments, views and routine bodies', () => {
    // Prepare
    const dump = NASTY;

    // Act
    const tables = count([dump]);

    // Assess
    expect(tables).toEqual(NASTY_COUNTS);
  });

  it('counts the same whatever byte the stream is split at, twice or byte by byte', () => {
    // Prepare
    const splits = Array.from({ length: NASTY.length + 1 }, (_, at) => at);

    // Act
    const results = splits.map((at) => count([NASTY.subarray(0, at), NASTY.subarray(at)]));
    const threeWay = splits
      .filter((at) => at % 7 === 0)
      .map((at) => count([NASTY.subarray(0, at), NASTY.subarray(at, at + 3), NASTY.subarray(at + 3)]));
    const bytes = count(Array.from({ length: NASTY.length }, (_, i) => NASTY.subarray(i, i + 1)));

    // Assess
    const wrong = results.findIndex((tables) => JSON.stringify(tables) !== JSON.stringify(NASTY_COUNTS));
    expect(wrong, `split at byte ${wrong}`).toBe(-1);
    expect(threeWay.every((tables) => JSON.stringify(tables) === JSON.stringify(NASTY_COUNTS))).toBe(true);
    expect(bytes).toEqual(NASTY_COUNTS);
  });

  it('hands every statement-level line comment to onComment whole, at any split, and none from inside strings', () => {
    // Prepare: both markers, a comment in a routine body, one at the very end without a newline, and words in data
    const dump = Buffer.from(
      "-- MariaDB dump 10.19\n#hash comment\nINSERT INTO `t` VALUES (1,'-- not a comment\n# nor this');\n" +
        'DELIMITER ;;\nCREATE PROCEDURE p() BEGIN\n-- in a body\nSELECT 1; END ;;\nDELIMITER ;\n-- Dump completed',
    );
    const expected = ['MariaDB dump 10.19', 'hash comment', 'in a body', 'Dump completed'];
    for (const size of [1, 2, 7, dump.length]) {
      const comments: string[] = [];
      const counter = new InsertCounter('shop', (text) => comments.push(text.toString('utf8')));

      // Act
      for (let at = 0; at < dump.length; at += size) {
        counter.write(dump.subarray(at, at + size));
      }
      const tables = counter.end();

      // Assess
      expect(comments, `chunks of ${size}`).toEqual(expected);
      expect(tables).toEqual([{ database: 'shop', name: 't', kind: 'table', rows: 1 }]);
    }
  });

  it('keeps at most MAX_COMMENT_BYTES of a comment, and copies them out of the chunk', () => {
    // Prepare
    const long = Buffer.from(`-- ${'x'.repeat(MAX_COMMENT_BYTES + 100)}\n-- short\n`);
    const comments: Buffer[] = [];
    const counter = new InsertCounter(undefined, (text) => comments.push(text));

    // Act
    counter.write(long);
    long.fill(0);
    counter.end();

    // Assess
    expect(comments.map((text) => text.length)).toEqual([MAX_COMMENT_BYTES, 5]);
    expect(comments[1].toString()).toBe('short');
    expect(comments[0].every((byte) => byte === 0x78)).toBe(true);
  });

  it('names the tables of a single-database dump after its default database, and counts an empty one as 0', () => {
    // Prepare
    const dump = Buffer.from('CREATE TABLE `e` (id int);\nCREATE TABLE `f` (id int);\nINSERT INTO `f` VALUES (1),(2),(3);\n');

    // Act
    const tables = count([dump], 'shop');

    // Assess
    expect(tables).toEqual([
      { database: 'shop', name: 'e', kind: 'table', rows: 0 },
      { database: 'shop', name: 'f', kind: 'table', rows: 3 },
    ]);
  });

  it('refuses a dump that ends inside an INSERT or a string: its counts would be short', () => {
    // Prepare
    const cut = NASTY.subarray(0, NASTY.indexOf("(3,'Zoë") + 6);
    const open = Buffer.from("CREATE TABLE `t` (s text COMMENT 'never closed");

    // Act
    const inInsert = () => count([cut]);
    const inString = () => count([open]);

    // Assess
    expect(inInsert).toThrow(DumpParseError);
    expect(inInsert).toThrow('the dump ended inside the INSERT statement of `we`ird; db`.`t`1 (x)`');
    expect(inString).toThrow('the dump ended inside a quoted string, identifier or comment');
  });

  it('refuses INSERT forms whose rows cannot be counted from the text, naming the table', () => {
    // Prepare
    const select = Buffer.from('USE `shop`;\nINSERT INTO `orders` SELECT * FROM `old_orders`;\n');
    const set = Buffer.from('INSERT INTO `orders` SET id = 1;\n');

    // Act
    const fromSelect = () => count([select]);
    const fromSet = () => count([set], 'shop');

    // Assess
    expect(fromSelect).toThrow('INSERT INTO `shop`.`orders` SELECT ...: only INSERT ... VALUES statements can be counted');
    expect(fromSet).toThrow('INSERT INTO `shop`.`orders` SET ...: only INSERT ... VALUES statements can be counted');
  });
});

/** A value as mysqldump writes it: mysql_real_escape_string for strings, hex for --hex-blob binaries. */
type Value =
  | { kind: 'null' }
  | { kind: 'number'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'binary'; value: Uint8Array; hex: boolean };

const ESCAPES: Record<string, string> = {
  '\0': '\\0',
  "'": "\\'",
  '"': '\\"',
  '\b': '\\b',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\x1a': '\\Z',
  '\\': '\\\\',
};

function escaped(bytes: Buffer): Buffer {
  const out: number[] = [];
  for (const byte of bytes) {
    const replacement = ESCAPES[String.fromCharCode(byte)];
    if (replacement) {
      out.push(...Buffer.from(replacement, 'latin1'));
    } else {
      out.push(byte);
    }
  }
  return Buffer.from(out);
}

function literal(value: Value): Buffer {
  switch (value.kind) {
    case 'null':
      return Buffer.from('NULL');
    case 'number':
      return Buffer.from(String(value.value));
    case 'string':
      return Buffer.concat([Buffer.from("'"), escaped(Buffer.from(value.value, 'utf8')), Buffer.from("'")]);
    case 'binary':
      return value.hex
        ? Buffer.from(value.value.length === 0 ? "''" : `0x${Buffer.from(value.value).toString('hex').toUpperCase()}`)
        : Buffer.concat([Buffer.from("_binary '"), escaped(Buffer.from(value.value)), Buffer.from("'")]);
  }
}

/** A dump of `tables` with extended INSERTs of at most `perInsert` rows, as mariadb-dump lays it out. */
function render(tables: readonly { name: string; rows: Value[][] }[], perInsert: number): Buffer {
  const parts: Buffer[] = [Buffer.from('/*!40101 SET NAMES utf8mb4 */;\n')];
  for (const table of tables) {
    const name = `\`${table.name.replace(/`/g, '``')}\``;
    // Names in comments go through mysqldump's fix_for_comment: a newline continues the comment.
    parts.push(
      Buffer.from(
        `--\n-- Table structure for table ${name.replace(/\n/g, '\n-- ')}\n--\n\nCREATE TABLE ${name} (\n  \`c\` text\n);\nLOCK TABLES ${name} WRITE;\n`,
      ),
    );
    for (let start = 0; start < table.rows.length; start += perInsert) {
      const tuples = table.rows
        .slice(start, start + perInsert)
        .map((row) =>
          Buffer.concat([
            Buffer.from('('),
            ...row.flatMap((v, i) => (i === 0 ? [literal(v)] : [Buffer.from(','), literal(v)])),
            Buffer.from(')'),
          ]),
        );
      parts.push(
        Buffer.from(`INSERT INTO ${name} VALUES `),
        ...tuples.flatMap((t, i) => (i === 0 ? [t] : [Buffer.from(','), t])),
        Buffer.from(';\n'),
      );
    }
    parts.push(Buffer.from('UNLOCK TABLES;\n'));
  }
  parts.push(Buffer.from('-- Dump completed\n'));
  return Buffer.concat(parts);
}

const nasty = fc.constantFrom(
  "'",
  '\\',
  '"',
  '(',
  ')',
  ',',
  ';',
  '`',
  '\n',
  '\0',
  '*/',
  '/*',
  '-- ',
  '#',
  'INSERT INTO `x` VALUES (1);',
  'é',
  '🚀',
  'DELIMITER ;;',
);
const value: fc.Arbitrary<Value> = fc.oneof(
  fc.constant({ kind: 'null' as const }),
  fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })).map((n) => ({ kind: 'number' as const, value: n })),
  fc
    .array(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), nasty), { maxLength: 6 })
    .map((p) => ({ kind: 'string' as const, value: p.join('') })),
  fc.record({ value: fc.uint8Array({ maxLength: 40 }), hex: fc.boolean() }).map((b) => ({ kind: 'binary' as const, ...b })),
);
const table = fc.record({
  name: fc.oneof(
    fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/),
    fc
      .array(fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }), nasty), { minLength: 1, maxLength: 4 })
      .map((p) => p.join('')),
  ),
  rows: fc.array(fc.array(value, { minLength: 1, maxLength: 4 }), { maxLength: 30 }),
});

describe('InsertCounter against generated dumps', () => {
  it('counts exactly the rows that were written, however the values look and wherever the chunks split', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(table, { selector: (t) => t.name, minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 20 }),
        (tables, perInsert, sizes) => {
          // Prepare
          const dump = render(tables, perInsert);
          const pieces: Buffer[] = [];
          for (let at = 0, k = 0; at < dump.length; k++) {
            const size = sizes[k % sizes.length];
            pieces.push(dump.subarray(at, at + size));
            at += size;
          }

          // Act
          const counted = count(pieces, 'db');

          // Assess
          expect(counted).toEqual(tables.map((t) => ({ database: 'db', name: t.name, kind: 'table', rows: t.rows.length })));
        },
      ),
      { numRuns: 300, seed: 20261201 },
    );
  });
});
