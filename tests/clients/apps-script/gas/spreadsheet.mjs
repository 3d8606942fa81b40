// SpreadsheetApp over an in-memory spreadsheet: sheets of cells (value and note), ranges with
// Apps Script's bounds checks and error messages, values written as if typed (a string of digits
// becomes a number), display values, the selection, toasts, and the Ui (menus, alerts, dialogs)
// — which a time-driven trigger cannot reach.

const SCOPES = ['https://www.googleapis.com/auth/spreadsheets.currentonly', 'https://www.googleapis.com/auth/spreadsheets'];
const UI_SCOPE = 'https://www.googleapis.com/auth/script.container.ui';

const isDate = (v) => Object.prototype.toString.call(v) === '[object Date]';

/** A cell value as Sheets stores what a script (or a person) writes. */
export function asTyped(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean' || isDate(value)) return value;
  const text = String(value);
  if (text.startsWith("'")) return text.slice(1);
  if (text.startsWith('=')) throw new Error(`fake: formulas are not modelled (${text})`);
  if (/^[+-]?\d+(\.\d+)?$/.test(text.trim())) return Number(text);
  if (/^(true|false)$/i.test(text.trim())) return text.trim().toLowerCase() === 'true';
  return text;
}

/** What a cell shows with the default ("automatic") format, in the spreadsheet's zone (UTC). */
export function display(value) {
  if (value === '') return '';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (isDate(value)) {
    const d = new Date(value.getTime());
    const two = (n) => String(n).padStart(2, '0');
    return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${d.getUTCHours()}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  }
  return String(value);
}

function columnLetters(column) {
  let out = '';
  for (let n = column; n > 0; n = Math.floor((n - 1) / 26)) out = String.fromCharCode(65 + ((n - 1) % 26)) + out;
  return out;
}

function parseA1(a1) {
  const cell = (text) => {
    const m = /^([A-Z]+)(\d+)$/i.exec(text);
    if (!m) throw new Error(`Range not found: ${a1}`);
    const column = [...m[1].toUpperCase()].reduce((n, c) => n * 26 + c.charCodeAt(0) - 64, 0);
    return { row: Number(m[2]), column };
  };
  const [from, to = from] = a1.split(':');
  const a = cell(from);
  const b = cell(to);
  return { row: a.row, column: a.column, numRows: b.row - a.row + 1, numColumns: b.column - a.column + 1 };
}

export class SheetModel {
  constructor(spreadsheet, name, id) {
    Object.assign(this, { spreadsheet, name, id, maxRows: 1000, maxColumns: 26, cells: [] });
  }

  cell(row, column) {
    return this.cells[row - 1]?.[column - 1] ?? { value: '', note: '' };
  }

  write(row, column, patch) {
    const rowCells = (this.cells[row - 1] ??= []);
    rowCells[column - 1] = { ...this.cell(row, column), ...patch };
  }

  lastRow() {
    for (let r = this.cells.length; r > 0; r -= 1) {
      if ((this.cells[r - 1] ?? []).some((c) => c && c.value !== '')) return r;
    }
    return 0;
  }

  lastColumn() {
    let last = 0;
    for (const row of this.cells) {
      (row ?? []).forEach((c, i) => {
        if (c && c.value !== '') last = Math.max(last, i + 1);
      });
    }
    return last;
  }

  /** For tests: row `row`'s values (1-based), as many columns as the sheet uses. */
  rowValues(row) {
    return Array.from({ length: this.lastColumn() }, (_, i) => this.cell(row, i + 1).value);
  }

  /** For tests: the values under the header `header` in rows 2…last. */
  column(header) {
    const index = this.rowValues(1).findIndex((h) => String(h).trim().toLowerCase() === header.toLowerCase());
    if (index < 0) throw new Error(`fake: no column ${header}`);
    return Array.from({ length: Math.max(this.lastRow() - 1, 0) }, (_, i) => this.cell(i + 2, index + 1).value);
  }
}

export class SpreadsheetModel {
  constructor({ id = '1FakeSpreadsheet_0123456789abcdefghijklmnopqrstu', name = 'Customers' } = {}) {
    Object.assign(this, { id, name, sheets: [], toasts: [], flushes: 0, activeSheet: null, selection: [] });
  }

  /** A sheet holding `rows` (row 1 first), each value stored as if a person typed it. */
  addSheet(name, rows = []) {
    const sheet = new SheetModel(this, name, this.sheets.length === 0 ? 0 : 1000 + this.sheets.length);
    rows.forEach((values, r) => values.forEach((v, c) => sheet.write(r + 1, c + 1, { value: asTyped(v) })));
    this.sheets.push(sheet);
    this.activeSheet ??= sheet;
    return sheet;
  }

  /** Makes `sheet` active with these ranges selected (A1 notation). */
  select(sheet, ...a1) {
    this.activeSheet = sheet;
    this.selection = a1.map(parseA1);
  }
}

export function makeSpreadsheetApp(env) {
  const model = () => env.state.spreadsheet;
  const guard = (name) => env.guard(name, SCOPES);

  class Range {
    #sheet;
    #row;
    #column;
    #numRows;
    #numColumns;

    constructor(sheet, row, column, numRows, numColumns) {
      if (![row, column, numRows, numColumns].every(Number.isInteger)) {
        throw new Error(`Cannot find method getRange(${[row, column, numRows, numColumns].join(',')}).`);
      }
      if (row < 1) throw new Error('The starting row of the range is too small.');
      if (column < 1) throw new Error('The starting column of the range is too small.');
      if (numRows < 1) throw new Error('The number of rows in the range must be at least 1.');
      if (numColumns < 1) throw new Error('The number of columns in the range must be at least 1.');
      if (row + numRows - 1 > sheet.maxRows || column + numColumns - 1 > sheet.maxColumns) {
        throw new Error('The coordinates of the range are outside the dimensions of the sheet.');
      }
      this.#sheet = sheet;
      this.#row = row;
      this.#column = column;
      this.#numRows = numRows;
      this.#numColumns = numColumns;
    }

    #map(fn) {
      return Array.from({ length: this.#numRows }, (_, r) =>
        Array.from({ length: this.#numColumns }, (_, c) => fn(this.#sheet.cell(this.#row + r, this.#column + c)))
      );
    }

    getValues() {
      guard('Range.getValues');
      return this.#map((cell) => (isDate(cell.value) ? new Date(cell.value.getTime()) : cell.value));
    }

    getDisplayValues() {
      guard('Range.getDisplayValues');
      return this.#map((cell) => display(cell.value));
    }

    getValue() {
      return this.getValues()[0][0];
    }

    getDisplayValue() {
      return this.getDisplayValues()[0][0];
    }

    setValues(values) {
      guard('Range.setValues');
      if (!Array.isArray(values) || values.length !== this.#numRows) {
        throw new Error(
          `The number of rows in the data does not match the number of rows in the range. The data has ${values.length} but the range has ${this.#numRows}.`
        );
      }
      values.forEach((row) => {
        if (!Array.isArray(row) || row.length !== this.#numColumns) {
          throw new Error(
            `The number of columns in the data does not match the number of columns in the range. The data has ${row.length} but the range has ${this.#numColumns}.`
          );
        }
      });
      const typed = values.map((row) => row.map(asTyped));
      typed.forEach((row, r) => row.forEach((v, c) => this.#sheet.write(this.#row + r, this.#column + c, { value: v })));
      return this;
    }

    setValue(value) {
      guard('Range.setValue');
      const typed = asTyped(value);
      for (let r = 0; r < this.#numRows; r += 1) {
        for (let c = 0; c < this.#numColumns; c += 1) this.#sheet.write(this.#row + r, this.#column + c, { value: typed });
      }
      return this;
    }

    clearContent() {
      return this.setValue('');
    }

    getNote() {
      guard('Range.getNote');
      return this.#sheet.cell(this.#row, this.#column).note;
    }

    setNote(note) {
      guard('Range.setNote');
      for (let r = 0; r < this.#numRows; r += 1) {
        for (let c = 0; c < this.#numColumns; c += 1) this.#sheet.write(this.#row + r, this.#column + c, { note: String(note ?? '') });
      }
      return this;
    }

    getRow() {
      return this.#row;
    }

    getColumn() {
      return this.#column;
    }

    getLastRow() {
      return this.#row + this.#numRows - 1;
    }

    getLastColumn() {
      return this.#column + this.#numColumns - 1;
    }

    getNumRows() {
      return this.#numRows;
    }

    getNumColumns() {
      return this.#numColumns;
    }

    getA1Notation() {
      const start = `${columnLetters(this.#column)}${this.#row}`;
      const end = `${columnLetters(this.getLastColumn())}${this.getLastRow()}`;
      return start === end ? start : `${start}:${end}`;
    }

    getSheet() {
      return new Sheet(this.#sheet);
    }
  }

  class Sheet {
    #sheet;

    constructor(sheet) {
      this.#sheet = sheet;
    }

    getName() {
      return this.#sheet.name;
    }

    getSheetId() {
      return this.#sheet.id;
    }

    getParent() {
      return new Spreadsheet();
    }

    getLastRow() {
      guard('Sheet.getLastRow');
      return this.#sheet.lastRow();
    }

    getLastColumn() {
      guard('Sheet.getLastColumn');
      return this.#sheet.lastColumn();
    }

    getMaxRows() {
      return this.#sheet.maxRows;
    }

    getMaxColumns() {
      return this.#sheet.maxColumns;
    }

    getRange(rowOrA1, column, numRows = 1, numColumns = 1) {
      guard('Sheet.getRange');
      if (typeof rowOrA1 === 'string') {
        const r = parseA1(rowOrA1);
        return new Range(this.#sheet, r.row, r.column, r.numRows, r.numColumns);
      }
      return new Range(this.#sheet, rowOrA1, column, numRows, numColumns);
    }

    getDataRange() {
      return this.getRange(1, 1, Math.max(this.#sheet.lastRow(), 1), Math.max(this.#sheet.lastColumn(), 1));
    }

    insertColumnsAfter(afterPosition, howMany) {
      guard('Sheet.insertColumnsAfter');
      for (const row of this.#sheet.cells) row?.splice(afterPosition, 0, ...Array(howMany).fill(undefined));
      this.#sheet.maxColumns += howMany;
      return this;
    }

    activate() {
      model().activeSheet = this.#sheet;
      return this;
    }
  }

  class RangeList {
    #ranges;

    constructor(ranges) {
      this.#ranges = ranges;
    }

    getRanges() {
      return this.#ranges.slice();
    }
  }

  class Spreadsheet {
    getId() {
      return model().id;
    }

    getName() {
      return model().name;
    }

    getSheets() {
      guard('Spreadsheet.getSheets');
      return model().sheets.map((s) => new Sheet(s));
    }

    getSheetByName(name) {
      const sheet = model().sheets.find((s) => s.name === name);
      return sheet ? new Sheet(sheet) : null;
    }

    getActiveSheet() {
      guard('Spreadsheet.getActiveSheet');
      return new Sheet(env.hasUi() ? model().activeSheet : model().sheets[0]);
    }

    getActiveRangeList() {
      guard('Spreadsheet.getActiveRangeList');
      const m = model();
      if (!env.hasUi() || !m.selection.length) return null;
      return new RangeList(m.selection.map((r) => new Range(m.activeSheet, r.row, r.column, r.numRows, r.numColumns)));
    }

    getActiveRange() {
      return this.getActiveRangeList()?.getRanges().at(-1) ?? null;
    }

    toast(msg, title = '', timeoutSeconds = 5) {
      guard('Spreadsheet.toast');
      // Without a person looking at the sheet (a trigger), a toast shows nowhere.
      if (env.hasUi()) model().toasts.push({ msg: String(msg), title: String(title), timeoutSeconds });
    }

    getSpreadsheetTimeZone() {
      return 'Etc/UTC';
    }
  }

  const Button = Object.freeze({ CLOSE: 'CLOSE', OK: 'OK', CANCEL: 'CANCEL', YES: 'YES', NO: 'NO' });
  const ButtonSet = Object.freeze({ OK: 'OK', OK_CANCEL: 'OK_CANCEL', YES_NO: 'YES_NO', YES_NO_CANCEL: 'YES_NO_CANCEL' });

  class Menu {
    #menu;

    constructor(caption) {
      this.#menu = { caption, items: [] };
    }

    addItem(caption, functionName) {
      this.#menu.items.push({ caption, functionName });
      return this;
    }

    addSeparator() {
      this.#menu.items.push({ separator: true });
      return this;
    }

    addToUi() {
      env.state.ui.menus.push(this.#menu);
    }
  }

  const ui = Object.freeze({
    Button,
    ButtonSet,
    createMenu: (caption) => new Menu(caption),
    alert(...args) {
      env.guard('Ui.alert');
      const [title, prompt, buttons] = args.length === 1 ? ['', args[0], ButtonSet.OK] : args.length === 2 ? ['', args[0], args[1]] : args;
      env.state.ui.alerts.push({ title, prompt, buttons });
      const answer = env.state.ui.answers.shift();
      if (answer !== undefined) return answer;
      if (buttons !== ButtonSet.OK) throw new Error(`fake: the test scripted no answer to the alert "${prompt}"`);
      return Button.OK;
    },
    showModalDialog(userInterface, title) {
      env.guard('Ui.showModalDialog', [UI_SCOPE]);
      env.state.ui.dialogs.push({
        title,
        html: userInterface.getContent(),
        width: userInterface.getWidth(),
        height: userInterface.getHeight(),
      });
    },
  });

  return Object.freeze({
    getActiveSpreadsheet() {
      guard('SpreadsheetApp.getActiveSpreadsheet');
      return new Spreadsheet();
    },
    getActive() {
      return this.getActiveSpreadsheet();
    },
    getActiveSheet() {
      return new Spreadsheet().getActiveSheet();
    },
    getActiveRangeList() {
      return new Spreadsheet().getActiveRangeList();
    },
    getUi() {
      if (!env.hasUi()) throw new Error('Cannot call SpreadsheetApp.getUi() from this context.');
      return ui;
    },
    flush() {
      guard('SpreadsheetApp.flush');
      model().flushes += 1;
    },
    openById() {
      env.guard('SpreadsheetApp.openById', ['https://www.googleapis.com/auth/spreadsheets']);
      throw new Error('fake: openById is not modelled');
    },
  });
}
