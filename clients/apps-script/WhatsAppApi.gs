/**
 * WhatsAppApi.gs — a drop-in Google Apps Script client for wapi (a self-hosted WhatsApp HTTP API
 * gateway) and a Google Sheets menu that sends one WhatsApp message per row.
 *
 * Setup (clients/apps-script/README.md has the illustrated version): in a Google Sheet open
 * Extensions → Apps Script, paste this whole file, save, reload the sheet, and use the new
 * "WhatsApp" menu → Settings to enter the gateway's address and an API key. They are kept in your
 * user properties (PropertiesService), never in the sheet.
 *
 * The sheet: row 1 holds headers. "Phone" and "Message" are required; the message may use
 * {{Column}} placeholders, filled from that row's column of the same header. The menu writes
 * "Status", "Message ID" and "Time" (added when missing). A row with a Message ID is never sent
 * again, and every row carries an idempotency key, so even a re-run after a crash sends nothing
 * twice. A run stops before Apps Script's 6-minute limit and continues by itself a minute later.
 *
 * The client, from your own functions:
 *
 *   var wa = WhatsAppApi.fromSettings();
 *   var message = wa.sendText('923001234567', 'Hello from Sheets');
 *   Logger.log('message ' + message.id + ' is ' + message.status);
 *
 * Every method returns the `data` of the gateway's answer and throws a WhatsAppApiError carrying
 * `code` (e.g. RATE_LIMITED, WHATSAPP_NOT_CONNECTED), `status` (HTTP), `details` and `retryAfter`.
 * A 429 RATE_LIMITED answer is waited out (Retry-After) and retried while the run's time allows.
 */

// ---------------------------------------------------------------------------------------------
// Tunables. Apps Script evaluates these at the start of every run (menu click, trigger).
// ---------------------------------------------------------------------------------------------

/** Rows sent per batch request (the gateway takes up to 500; each request is one rate-limit unit). */
var WAPI_ROWS_PER_REQUEST = 50;
/** Apps Script ends every run after 6 minutes. */
var WAPI_RUN_LIMIT_MS = 6 * 60 * 1000;
/** No new request starts, and no 429 wait ends, closer than this to the limit. */
var WAPI_RESERVE_MS = 75 * 1000;
/** A paused send continues this long after it paused (Apps Script's minimum is one minute). */
var WAPI_RESUME_AFTER_MS = 60 * 1000;
/** When this run started: globals are evaluated afresh at the start of every run. */
var WAPI_RUN_STARTED_AT = Date.now();

var WAPI_PROPERTY_URL = 'wapi.url';
var WAPI_PROPERTY_KEY = 'wapi.key';
var WAPI_PROPERTY_JOB = 'wapi.job';
var WAPI_RESUME_HANDLER = 'wapiContinueSending';
var WAPI_KEY_FORMAT = /^wapi_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}$/;
var WAPI_HEADERS = {
  phone: ['phone', 'phone number', 'whatsapp', 'whatsapp number', 'mobile', 'number', 'to'],
  message: ['message', 'text'],
  status: ['status'],
  id: ['message id'],
  time: ['time'],
  check: ['on whatsapp'],
};

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/** A refusal by the gateway (or a failure to reach it), with the gateway's machine code. */
class WhatsAppApiError extends Error {
  /**
   * @param {string} message a sentence for people
   * @param {{code: string, status?: number, details?: Array, retryAfter?: number, requestId?: string}} fields
   */
  constructor(message, fields) {
    super(message);
    this.name = 'WhatsAppApiError';
    this.code = fields.code;
    this.status = fields.status || 0;
    this.details = fields.details || [];
    this.retryAfter = fields.retryAfter === undefined ? null : fields.retryAfter;
    this.requestId = fields.requestId || '';
  }
}

class WhatsAppApi {
  /**
   * @param {string} baseUrl the gateway's address, e.g. https://wa.example.com
   * @param {string} apiKey wapi_xxxxxxxx_yyyy…
   * @param {{deadline?: number}} [options] deadline: the time (ms since 1970) after which a 429 is
   *     not waited out any more; by default 75 s before this run's 6-minute limit
   */
  constructor(baseUrl, apiKey, options) {
    this.baseUrl = wapiNormalizeUrl_(baseUrl);
    if (!apiKey) {
      throw new WhatsAppApiError('No API key is set: open the WhatsApp menu → Settings.', { code: 'NOT_CONFIGURED' });
    }
    this.apiKey = String(apiKey).trim();
    this.deadline = (options && options.deadline) || WAPI_RUN_STARTED_AT + WAPI_RUN_LIMIT_MS - WAPI_RESERVE_MS;
  }

  /** A client with the address and key saved through WhatsApp → Settings. */
  static fromSettings(options) {
    var settings = wapiSettings_();
    if (!settings.url || !settings.key) {
      throw new WhatsAppApiError(
        'The gateway address and API key are not set: open the WhatsApp menu → Settings.',
        { code: 'NOT_CONFIGURED' }
      );
    }
    return new WhatsAppApi(settings.url, settings.key, options);
  }

  /**
   * Sends a text. Answers the message: {id, status: 'sent' | 'queued' | 'failed', …}.
   * @param {{idempotencyKey?: string, template?: string, vars?: Object}} [options]
   */
  sendText(to, text, options) {
    options = options || {};
    var body = { to: String(to), text: text };
    if (options.template !== undefined) body.template = options.template;
    if (options.vars !== undefined) body.vars = options.vars;
    return this.request_('post', '/api/messages', { json: body, idempotencyKey: options.idempotencyKey });
  }

  /** Sends a file (a Blob: image, audio and video go as such, anything else as a document). */
  sendMedia(to, blob, caption, options) {
    options = options || {};
    var form = { to: String(to) };
    if (caption) form.caption = caption;
    form.file = blob;
    return this.request_('post', '/api/messages/media', { form: form, idempotencyKey: options.idempotencyKey });
  }

  /** Downloads `url` and sends it as a file. */
  sendMediaFromUrl(to, url, caption, options) {
    var response = UrlFetchApp.fetch(url, { muteHttpExceptions: true, followRedirects: true });
    var code = response.getResponseCode();
    if (code < 200 || code >= 300) {
      throw new WhatsAppApiError('Could not download ' + url + ': HTTP ' + code + '.', {
        code: 'DOWNLOAD_FAILED',
        status: code,
      });
    }
    var blob = response.getBlob();
    blob.setName(wapiFileNameOf_(url));
    return this.sendMedia(to, blob, caption, options);
  }

  /** Sends a file from Google Drive, by its id (the long part of its sharing link). */
  sendDriveFile(to, fileId, caption, options) {
    var file = DriveApp.getFileById(fileId);
    return this.sendMedia(to, file.getBlob().setName(file.getName()), caption, options);
  }

  /**
   * Up to 500 texts in one request: items are {to, text, idempotencyKey?}. Answers
   * {items: [{index, success, message, replayed, error, code, details}], queued, refused}.
   * @param {{idempotencyKey?: string}} [options] a base key: item i gets `KEY:i`
   */
  sendBatch(items, options) {
    options = options || {};
    return this.request_('post', '/api/messages/batch', {
      json: { items: items },
      idempotencyKey: options.idempotencyKey,
    });
  }

  /** The connection, queue length, today's counts, the anti-ban settings and this key's role. */
  getStatus() {
    return this.request_('get', '/api/status', {});
  }

  /**
   * Queue and history: queued messages first in send order, then the rest newest first.
   * @param {{status?: string, cursor?: string, limit?: number}} [query]
   * @return {{items: Array, nextCursor: ?string}}
   */
  listMessages(query) {
    var parts = [];
    var q = query || {};
    ['status', 'cursor', 'limit'].forEach(function (name) {
      if (q[name] !== undefined && q[name] !== null) {
        parts.push(name + '=' + encodeURIComponent(String(q[name])));
      }
    });
    return this.request_('get', '/api/messages' + (parts.length ? '?' + parts.join('&') : ''), {});
  }

  /** One message with its status history. */
  getMessage(id) {
    return this.request_('get', '/api/messages/' + encodeURIComponent(String(id)), {});
  }

  /** Cancels a message that is still queued (409 CONFLICT once it is being sent or sent). */
  cancelMessage(id) {
    return this.request_('delete', '/api/messages/' + encodeURIComponent(String(id)), {});
  }

  /** Which numbers are on WhatsApp: [{number, onWhatsapp, lid}], in the order given. */
  checkNumbers(numbers) {
    var numbersText = numbers.map(function (n) {
      return String(n);
    });
    return this.request_('post', '/api/numbers/check', { json: { numbers: numbersText } }).results;
  }

  /** Every API key (admin keys only): [{id, name, prefix, role, lastUsedAt, status, …}]. */
  listKeys() {
    return this.request_('get', '/api/keys', {});
  }

  /** Creates a key (admin keys only); `secret` in the answer is the key, shown this once. */
  createKey(name, role) {
    return this.request_('post', '/api/keys', { json: { name: name, role: role || 'user' } });
  }

  /** Revokes a key by its 8-character id (admin keys only). */
  revokeKey(id) {
    return this.request_('delete', '/api/keys/' + encodeURIComponent(String(id)), {});
  }

  /** One call: the envelope unwrapped, errors thrown, 429 RATE_LIMITED waited out while time allows. */
  request_(method, path, body) {
    var params = {
      method: method,
      headers: { 'X-API-Key': this.apiKey, Accept: 'application/json' },
      muteHttpExceptions: true,
      followRedirects: false,
    };
    if (body.json !== undefined) {
      params.contentType = 'application/json';
      params.payload = JSON.stringify(body.json);
    }
    if (body.form !== undefined) params.payload = body.form;
    if (body.idempotencyKey) params.headers['Idempotency-Key'] = body.idempotencyKey;
    for (;;) {
      var response;
      try {
        response = UrlFetchApp.fetch(this.baseUrl + path, params);
      } catch (e) {
        throw new WhatsAppApiError('Could not reach the gateway at ' + this.baseUrl + ': ' + e.message, {
          code: 'UNREACHABLE',
        });
      }
      var answer = wapiReadAnswer_(response, this.baseUrl);
      if (!(answer instanceof WhatsAppApiError)) return answer;
      if (answer.code === 'RATE_LIMITED' && this.mayWait_(answer.retryAfter)) {
        Utilities.sleep(answer.retryAfter * 1000);
        continue;
      }
      throw answer;
    }
  }

  /** Whether waiting `seconds` still ends before the deadline (and within Utilities.sleep's 5 minutes). */
  mayWait_(seconds) {
    var ms = seconds * 1000;
    return ms > 0 && ms <= 300000 && Date.now() + ms <= this.deadline;
  }
}

/** The `data` of a successful answer, or the WhatsAppApiError an unsuccessful one stands for. */
function wapiReadAnswer_(response, baseUrl) {
  var status = response.getResponseCode();
  var headers = wapiLowerCaseKeys_(response.getHeaders());
  var text = response.getContentText();
  var envelope = null;
  try {
    envelope = JSON.parse(text);
  } catch (e) {
    envelope = null;
  }
  if (!envelope || typeof envelope !== 'object' || typeof envelope.success !== 'boolean') {
    var where = status >= 300 && status < 400 && headers.location ? ' (it redirects to ' + headers.location + ')' : '';
    return new WhatsAppApiError(
      'The address ' + baseUrl + ' answered HTTP ' + status + where +
        ', not like a wapi gateway: check WhatsApp → Settings. ' +
        'It said: ' + text.slice(0, 200),
      { code: 'BAD_RESPONSE', status: status }
    );
  }
  if (envelope.success && status < 300) return envelope.data;
  var data = envelope.data || {};
  var retryAfter = parseInt(headers['retry-after'], 10);
  if (isNaN(retryAfter)) retryAfter = typeof data.retryAfter === 'number' ? data.retryAfter : null;
  return new WhatsAppApiError(wapiExplain_(envelope.code, envelope.error, baseUrl), {
    code: envelope.code || 'HTTP_' + status,
    status: status,
    details: data.details,
    retryAfter: retryAfter,
    requestId: headers['x-request-id'],
  });
}

/** The gateway's sentence, with what to do about it when that is not obvious. */
function wapiExplain_(code, sentence, baseUrl) {
  var text = sentence || 'the gateway refused the request';
  switch (code) {
    case 'WHATSAPP_NOT_CONNECTED':
      var link = 'on the phone, WhatsApp → Settings → Linked devices → Link a device';
      if (text.indexOf('scan the QR') >= 0) return text + ' (the dashboard is at ' + baseUrl + '/; ' + link + ').';
      if (/reconnecting|starting/.test(text)) {
        return text + '. Try again in a minute; the dashboard (' + baseUrl + '/) shows the connection.';
      }
      return text + '. Open the dashboard (' + baseUrl + '/) and scan the QR code: ' + link + '.';
    case 'UNAUTHORIZED':
      return text + ': check the API key in WhatsApp → Settings.';
    case 'ADMIN_REQUIRED':
      return text + ' (this key is a user key).';
    case 'DAILY_LIMIT_REACHED':
      return text + '.';
    case 'STORAGE_FULL':
      return text + ' (ask whoever runs the gateway to free disk space; rows without a Message ID were not sent).';
    default:
      return text;
  }
}

function wapiLowerCaseKeys_(object) {
  var out = {};
  Object.keys(object || {}).forEach(function (name) {
    out[name.toLowerCase()] = object[name];
  });
  return out;
}

/** `https://host/`, `host:8080/api` → `https://host`, `http://host:8080`; refuses anything else. */
function wapiNormalizeUrl_(url) {
  var text = String(url || '').trim().replace(/\/+$/, '').replace(/\/api$/, '');
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(text)) {
    throw new WhatsAppApiError(
      'The gateway address must look like https://wa.example.com or http://203.0.113.7:8080, not "' + url + '".',
      { code: 'NOT_CONFIGURED' }
    );
  }
  return text;
}

/** The last part of a URL's path, decoded, for the file's name ("file" when there is none). */
function wapiFileNameOf_(url) {
  var path = String(url).split(/[?#]/)[0].replace(/\/+$/, '');
  var last = path.slice(path.lastIndexOf('/') + 1);
  try {
    last = decodeURIComponent(last);
  } catch (e) {
    // keep it as written
  }
  return last && path.indexOf('://') < path.lastIndexOf('/') ? last : 'file';
}

// ---------------------------------------------------------------------------------------------
// Settings: the address and key live in this user's properties, never in the sheet
// ---------------------------------------------------------------------------------------------

function wapiSettings_() {
  var properties = PropertiesService.getUserProperties();
  return {
    url: properties.getProperty(WAPI_PROPERTY_URL) || '',
    key: properties.getProperty(WAPI_PROPERTY_KEY) || '',
  };
}

/** Menu: WhatsApp → Settings. */
function wapiShowSettings() {
  var html = HtmlService.createHtmlOutput(wapiSettingsHtml_(wapiSettings_()))
    .setWidth(480)
    .setHeight(360);
  SpreadsheetApp.getUi().showModalDialog(html, 'WhatsApp settings');
}

/**
 * Called by the Settings dialog: checks the address and key against the gateway, then saves them.
 * An empty key keeps the saved one. Answers a sentence for the dialog; throws when it cannot save.
 */
function wapiSaveSettings(url, key) {
  var saved = wapiSettings_();
  var base = wapiNormalizeUrl_(url);
  var apiKey = String(key || '').trim() || saved.key;
  if (!WAPI_KEY_FORMAT.test(apiKey)) {
    throw new Error('An API key looks like wapi_xxxxxxxx_ followed by 32 letters and digits.');
  }
  var status = new WhatsAppApi(base, apiKey).getStatus();
  var properties = {};
  properties[WAPI_PROPERTY_URL] = base;
  properties[WAPI_PROPERTY_KEY] = apiKey;
  PropertiesService.getUserProperties().setProperties(properties);
  var connection = status.connection || {};
  return (
    'Saved. The gateway answers: WhatsApp ' + String(connection.state).replace(/_/g, ' ') +
    (connection.number ? ' (' + connection.number + ')' : '') + ', ' + status.pendingMessages +
    ' in the queue, ' + status.sentToday + ' of ' + status.dailyLimit + ' sent today; ' +
    (status.keyRole === 'admin' ? 'an admin key.' : 'a user key.')
  );
}

function wapiSettingsHtml_(settings) {
  var keyHint = settings.key
    ? 'saved: ' + settings.key.slice(0, 14) + '… (leave empty to keep it)'
    : 'wapi_xxxxxxxx_yyyy…';
  return [
    '<!DOCTYPE html><html><head><base target="_top"><style>',
    'body{font:14px Arial,sans-serif;margin:12px}label{display:block;margin:10px 0 4px;font-weight:bold}',
    'input{width:100%;box-sizing:border-box;padding:6px}p{color:#555}button{margin-top:14px;padding:6px 14px}',
    '#result{margin-top:12px;white-space:pre-wrap}</style></head><body>',
    '<form id="settings">',
    '<label for="url">Gateway address</label>',
    '<input id="url" name="url" required placeholder="https://wa.example.com" value="' +
      wapiEscapeHtml_(settings.url) + '">',
    '<p>The address the gateway\'s dashboard shows. Google\'s servers must be able to reach it: a domain with HTTPS, ',
    'or the server\'s public IP and port.</p>',
    '<label for="key">API key</label>',
    '<input id="key" name="key" type="password" autocomplete="off" placeholder="' + wapiEscapeHtml_(keyHint) + '">',
    '<p>Kept in your own Apps Script settings for this sheet, never in the sheet.</p>',
    '<button type="submit">Save and test</button>',
    '<div id="result"></div></form>',
    '<script>',
    'document.getElementById("settings").addEventListener("submit", function (event) {',
    '  event.preventDefault();',
    '  var result = document.getElementById("result");',
    '  result.textContent = "Testing…";',
    '  google.script.run',
    '    .withSuccessHandler(function (text) { result.textContent = text; })',
    '    .withFailureHandler(function (error) { result.textContent = error.message; })',
    '    .wapiSaveSettings(this.url.value, this.key.value);',
    '});',
    '</script></body></html>',
  ].join('\n');
}

function wapiEscapeHtml_(text) {
  return String(text).replace(/[&<>"']/g, function (c) {
    return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
  });
}

// ---------------------------------------------------------------------------------------------
// The menu
// ---------------------------------------------------------------------------------------------

/** Runs when the spreadsheet opens. If your project has its own onOpen, call wapiAddMenu() from it. */
function onOpen() {
  wapiAddMenu();
}

function wapiAddMenu() {
  SpreadsheetApp.getUi()
    .createMenu('WhatsApp')
    .addItem('Send to all rows', 'wapiSendAllRows')
    .addItem('Send selected rows', 'wapiSendSelectedRows')
    .addItem('Check numbers', 'wapiCheckNumbers')
    .addItem('Refresh statuses', 'wapiRefreshStatuses')
    .addSeparator()
    .addItem('Settings', 'wapiShowSettings')
    .addToUi();
}

/** Menu: sends every row of the active sheet that has no Message ID yet. */
function wapiSendAllRows() {
  var sheet = SpreadsheetApp.getActiveSheet();
  wapiStartJob_({ sheetId: sheet.getSheetId(), spans: null });
}

/** Menu: sends the selected rows of the active sheet that have no Message ID yet. */
function wapiSendSelectedRows() {
  var sheet = SpreadsheetApp.getActiveSheet();
  var spans = wapiSelectedSpans_(sheet);
  if (!spans.length) {
    SpreadsheetApp.getUi().alert('Select the rows to send first (any cells of those rows, below the header row).');
    return;
  }
  wapiStartJob_({ sheetId: sheet.getSheetId(), spans: spans });
}

/** The selected rows of `sheet` below the header, as sorted, merged [first, last] pairs. */
function wapiSelectedSpans_(sheet) {
  var list = SpreadsheetApp.getActiveSpreadsheet().getActiveRangeList();
  var ranges = list ? list.getRanges() : [];
  var spans = ranges
    .filter(function (range) {
      return range.getSheet().getSheetId() === sheet.getSheetId();
    })
    .map(function (range) {
      return [Math.max(range.getRow(), 2), Math.min(range.getLastRow(), sheet.getLastRow())];
    })
    .filter(function (span) {
      return span[0] <= span[1];
    })
    .sort(function (a, b) {
      return a[0] - b[0];
    });
  var merged = [];
  spans.forEach(function (span) {
    var last = merged[merged.length - 1];
    if (last && span[0] <= last[1] + 1) last[1] = Math.max(last[1], span[1]);
    else merged.push(span);
  });
  return merged;
}

// ---------------------------------------------------------------------------------------------
// Sending rows: batches, write-back, the time limit and resuming
// ---------------------------------------------------------------------------------------------

/** Time-driven trigger: continues a send that paused before the time limit. */
function wapiContinueSending() {
  wapiDeleteResumeTriggers_();
  var job = wapiLoadJob_();
  if (job) wapiRunJob_(job, null);
}

function wapiStartJob_(spec) {
  var ui = SpreadsheetApp.getUi();
  var paused = wapiLoadJob_();
  if (paused) {
    var answer = ui.alert(
      'WhatsApp',
      'A send is paused at ' + paused.done + ' of ' + paused.total + ' rows and continues by itself. ' +
        'Start this one instead? (Rows with a Message ID are never sent again.)',
      ui.ButtonSet.YES_NO
    );
    if (answer !== ui.Button.YES) return;
    wapiDeleteResumeTriggers_();
  }
  var job = { sheetId: spec.sheetId, spans: spec.spans, nextRow: 2, total: null, done: 0, accepted: 0, refused: 0 };
  wapiRunJob_(job, ui);
}

/**
 * Runs (or continues) a job under the document lock: batches of rows until none is left, the
 * time runs out (pause: a trigger continues it) or the gateway refuses the run (stop). `ui` is
 * null when a trigger runs it (no dialogs then; the Status header's note tells what happened).
 */
function wapiRunJob_(job, ui) {
  var lock = LockService.getDocumentLock() || LockService.getScriptLock();
  if (!lock.tryLock(3000)) {
    if (ui) {
      ui.alert(
        'A send is already running in this spreadsheet. It writes each row\'s status as it goes; wait for it to finish.'
      );
    } else {
      wapiScheduleResume_();
    }
    return;
  }
  var outcome;
  try {
    outcome = wapiWork_(job);
  } catch (e) {
    wapiClearJob_();
    outcome = { kind: 'failed', message: e.message };
  } finally {
    lock.releaseLock();
  }
  wapiReport_(outcome, ui);
}

/** The work of one run. Answers what happened: done, paused, stopped (refused) or failed. */
function wapiWork_(job) {
  var spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  var sheet = wapiSheetById_(spreadsheet, job.sheetId);
  if (!sheet) {
    wapiClearJob_();
    return { kind: 'failed', message: 'The sheet being sent was deleted.' };
  }
  var layout = wapiLayout_(sheet, ['status', 'id', 'time']);
  var api = WhatsAppApi.fromSettings();
  var rows = wapiReadRows_(sheet, layout, job.spans).filter(function (row) {
    return row.row >= job.nextRow && !row.messageId;
  });
  if (job.total === null) {
    job.total = rows.length;
    if (!rows.length) {
      wapiClearJob_();
      var which = job.spans ? 'selected row' : 'row';
      var nothing = 'Nothing to send: every ' + which + ' with a phone number already has a Message ID.';
      return { kind: 'done', message: nothing };
    }
  }
  for (var start = 0; start < rows.length; start += WAPI_ROWS_PER_REQUEST) {
    if (!wapiTimeLeft_()) {
      return wapiPause_(job, sheet, layout, WAPI_RESUME_AFTER_MS, 'Apps Script runs for 6 minutes at most');
    }
    var chunk = rows.slice(start, start + WAPI_ROWS_PER_REQUEST);
    var result;
    try {
      result = wapiSendChunk_(api, spreadsheet, sheet, layout, chunk);
    } catch (e) {
      if (e.code === 'RATE_LIMITED') {
        var wait = Math.max(WAPI_RESUME_AFTER_MS, (e.retryAfter || 0) * 1000);
        return wapiPause_(job, sheet, layout, wait, 'the gateway asked to slow down: ' + e.message);
      }
      if (e.code === 'STORAGE_BUSY') {
        return wapiPause_(job, sheet, layout, WAPI_RESUME_AFTER_MS, 'the gateway is busy: ' + e.message);
      }
      wapiClearJob_();
      wapiNote_(sheet, layout, 'Stopped: ' + e.message);
      return { kind: 'stopped', message: e.message };
    }
    job.accepted += result.accepted;
    job.refused += result.refused;
    job.done += chunk.length;
    job.nextRow = chunk[chunk.length - 1].row + 1;
    wapiSaveJob_(job);
    wapiNote_(sheet, layout, 'Sending: ' + job.done + ' of ' + job.total + ' rows done.');
    wapiToast_(job.done + ' of ' + job.total + ' rows done', 5);
    SpreadsheetApp.flush();
    if (result.dailyLimit) {
      wapiClearJob_();
      var message = result.dailyLimit + ' Rows without a Message ID were not sent: send them again after midnight UTC.';
      wapiNote_(sheet, layout, 'Stopped: ' + message);
      return { kind: 'stopped', message: message };
    }
  }
  wapiClearJob_();
  wapiDeleteResumeTriggers_();
  var done = 'Done: ' + job.done + ' rows — ' + job.accepted + ' accepted, ' + job.refused + ' refused (see Status).';
  wapiNote_(sheet, layout, done);
  return { kind: 'done', message: done };
}

/** Sends one batch and writes each row's outcome. Rows that fail before sending are written too. */
function wapiSendChunk_(api, spreadsheet, sheet, layout, chunk) {
  var now = new Date();
  var updates = [];
  var items = [];
  var sent = [];
  chunk.forEach(function (row) {
    if (row.error) {
      updates.push({ row: row.row, status: 'error: ' + row.error, id: '', time: now });
      return;
    }
    items.push({
      to: row.phone,
      text: row.text,
      idempotencyKey: wapiRowKey_(spreadsheet.getId(), sheet.getSheetId(), row.row, row.phone, row.text),
    });
    sent.push(row);
  });
  var outcome = { accepted: 0, refused: chunk.length - sent.length, dailyLimit: '' };
  if (items.length) {
    var answer = api.sendBatch(items);
    answer.items.forEach(function (item) {
      var row = sent[item.index];
      if (item.success) {
        outcome.accepted += 1;
        var message = item.message;
        updates.push({ row: row.row, status: wapiStatusOf_(message), id: message.id, time: new Date(message.createdAt) });
      } else {
        outcome.refused += 1;
        if (item.code === 'DAILY_LIMIT_REACHED') outcome.dailyLimit = item.error + '.';
        updates.push({ row: row.row, status: item.code + ': ' + item.error, id: '', time: now });
      }
    });
  }
  wapiWriteRows_(sheet, layout, updates);
  return outcome;
}

/** Saves the job and has a trigger continue it after `delayMs`; `why` is said in brackets. */
function wapiPause_(job, sheet, layout, delayMs, why) {
  wapiSaveJob_(job);
  wapiScheduleResume_(delayMs);
  var minutes = Math.max(1, Math.round(delayMs / 60000));
  var message =
    'Paused at ' + job.done + ' of ' + job.total + ' rows (' + why + '); it continues by itself in about ' +
    minutes + (minutes === 1 ? ' minute' : ' minutes') + '.';
  wapiNote_(sheet, layout, message);
  wapiToast_(message, 10);
  return { kind: 'paused', message: message };
}

function wapiReport_(outcome, ui) {
  var failed = outcome.kind === 'failed' || outcome.kind === 'stopped';
  if (ui) {
    ui.alert(failed ? 'WhatsApp: not everything was sent' : 'WhatsApp', outcome.message, ui.ButtonSet.OK);
  } else if (failed) {
    // Apps Script mails a trigger's failure to its owner.
    throw new Error(outcome.message);
  }
}

function wapiTimeLeft_() {
  return Date.now() < WAPI_RUN_STARTED_AT + WAPI_RUN_LIMIT_MS - WAPI_RESERVE_MS;
}

/** The same row with the same phone and text always gets the same key: the gateway sends it once. */
function wapiRowKey_(spreadsheetId, sheetId, row, phone, text) {
  var digest = Utilities.computeDigest(Utilities.DigestAlgorithm.SHA_256, phone + '\n' + text, Utilities.Charset.UTF_8);
  var hash = Utilities.base64EncodeWebSafe(digest).replace(/=+$/, '').slice(0, 22);
  return 'sheets:' + spreadsheetId + ':' + sheetId + ':' + row + ':' + hash;
}

function wapiScheduleResume_(delayMs) {
  wapiDeleteResumeTriggers_();
  ScriptApp.newTrigger(WAPI_RESUME_HANDLER)
    .timeBased()
    .after(delayMs || WAPI_RESUME_AFTER_MS)
    .create();
}

function wapiDeleteResumeTriggers_() {
  ScriptApp.getProjectTriggers().forEach(function (trigger) {
    if (trigger.getHandlerFunction() === WAPI_RESUME_HANDLER) ScriptApp.deleteTrigger(trigger);
  });
}

function wapiLoadJob_() {
  var text = PropertiesService.getDocumentProperties().getProperty(WAPI_PROPERTY_JOB);
  return text ? JSON.parse(text) : null;
}

function wapiSaveJob_(job) {
  PropertiesService.getDocumentProperties().setProperty(WAPI_PROPERTY_JOB, JSON.stringify(job));
}

function wapiClearJob_() {
  PropertiesService.getDocumentProperties().deleteProperty(WAPI_PROPERTY_JOB);
}

// ---------------------------------------------------------------------------------------------
// Check numbers and refresh statuses
// ---------------------------------------------------------------------------------------------

/** Menu: asks which numbers are on WhatsApp and writes yes / no in an "On WhatsApp" column. */
function wapiCheckNumbers() {
  var ui = SpreadsheetApp.getUi();
  try {
    var sheet = SpreadsheetApp.getActiveSheet();
    var layout = wapiLayout_(sheet, ['check']);
    var api = WhatsAppApi.fromSettings();
    var rows = wapiReadRows_(sheet, layout, null).filter(function (row) {
      return row.phone;
    });
    var updates = [];
    var counts = { yes: 0, no: 0, invalid: 0 };
    var phones = [];
    rows.forEach(function (row) {
      var problem = /@g\.us$/.test(row.phone) ? 'a group, not a phone number' : wapiPhoneProblem_(row.phone);
      if (problem) {
        counts.invalid += 1;
        updates.push({ row: row.row, check: 'invalid: ' + problem });
      } else {
        phones.push(row);
      }
    });
    for (var start = 0; start < phones.length; start += 500) {
      var chunk = phones.slice(start, start + 500);
      var results = api.checkNumbers(chunk.map(function (row) {
        return row.phone;
      }));
      results.forEach(function (result, i) {
        counts[result.onWhatsapp ? 'yes' : 'no'] += 1;
        updates.push({ row: chunk[i].row, check: result.onWhatsapp ? 'yes' : 'no' });
      });
    }
    wapiWriteRows_(sheet, layout, updates);
    var summary = counts.yes + ' on WhatsApp, ' + counts.no + ' not, ' + counts.invalid + ' not valid numbers.';
    ui.alert('WhatsApp', summary, ui.ButtonSet.OK);
  } catch (e) {
    ui.alert('WhatsApp: error', e.message, ui.ButtonSet.OK);
  }
}

/** Menu: asks the gateway what became of every row still queued, and writes it back. */
function wapiRefreshStatuses() {
  var ui = SpreadsheetApp.getUi();
  try {
    var sheet = SpreadsheetApp.getActiveSheet();
    var layout = wapiLayout_(sheet, ['status', 'id', 'time']);
    var api = WhatsAppApi.fromSettings();
    var rows = wapiReadRows_(sheet, layout, null).filter(function (row) {
      return row.messageId && (row.status === 'queued' || row.status === 'sending');
    });
    var updates = [];
    var left = 0;
    rows.forEach(function (row) {
      if (!wapiTimeLeft_()) {
        left += 1;
        return;
      }
      var message = api.getMessage(row.messageId);
      var time = new Date(message.sentAt || message.updatedAt);
      updates.push({ row: row.row, status: wapiStatusOf_(message), id: message.id, time: time });
    });
    wapiWriteRows_(sheet, layout, updates);
    ui.alert(
      'WhatsApp',
      updates.length + ' rows refreshed' + (left ? '; ' + left + ' left: run Refresh statuses again.' : '.'),
      ui.ButtonSet.OK
    );
  } catch (e) {
    ui.alert('WhatsApp: error', e.message, ui.ButtonSet.OK);
  }
}

/** A message's status as the Status column shows it: `sent`, `queued`, `failed: why`. */
function wapiStatusOf_(message) {
  return message.status + (message.reason ? ': ' + message.reason : '');
}

/** Why the gateway would refuse this phone number, or '' (its own rule: 8–15 digits, no leading 0). */
function wapiPhoneProblem_(phone) {
  if (!/^\d+$/.test(phone)) return 'digits only, with the country code';
  if (phone.length < 8 || phone.length > 15) return 'must have 8 to 15 digits';
  if (phone.charAt(0) === '0') return 'must start with the country code, not 0';
  return '';
}

// ---------------------------------------------------------------------------------------------
// The sheet: columns found by their headers, rows read once, outcomes written back by column
// ---------------------------------------------------------------------------------------------

function wapiSheetById_(spreadsheet, sheetId) {
  var sheets = spreadsheet.getSheets();
  for (var i = 0; i < sheets.length; i++) {
    if (sheets[i].getSheetId() === sheetId) return sheets[i];
  }
  return null;
}

/**
 * The columns by role (1-based), from row 1's headers. Phone and Message must be there; the
 * `outputs` roles (status, id, time, check) are added after the last header when missing.
 */
function wapiLayout_(sheet, outputs) {
  var width = Math.max(sheet.getLastColumn(), 1);
  var headers = sheet.getRange(1, 1, 1, width).getDisplayValues()[0].map(function (h) {
    return String(h).trim();
  });
  var lower = headers.map(function (h) {
    return h.toLowerCase();
  });
  var layout = { headers: headers };
  Object.keys(WAPI_HEADERS).forEach(function (role) {
    var found = WAPI_HEADERS[role].filter(function (name) {
      return lower.indexOf(name) >= 0;
    })[0];
    layout[role] = found ? lower.indexOf(found) + 1 : 0;
  });
  if (!layout.phone || !layout.message) {
    throw new Error('Row 1 needs a "Phone" header above the numbers and a "Message" header above the texts.');
  }
  var titles = { status: 'Status', id: 'Message ID', time: 'Time', check: 'On WhatsApp' };
  var added = [];
  outputs.forEach(function (role) {
    if (!layout[role]) {
      while (headers.length && headers[headers.length - 1] === '') headers.pop();
      headers.push(titles[role]);
      layout[role] = headers.length;
      added.push(role);
    }
  });
  if (added.length) {
    var missing = headers.length - sheet.getMaxColumns();
    if (missing > 0) sheet.insertColumnsAfter(sheet.getMaxColumns(), missing);
    added.forEach(function (role) {
      sheet.getRange(1, layout[role]).setValue(titles[role]);
    });
  }
  return layout;
}

/**
 * The data rows (within `spans` when given): the recipient, the text with {{Column}} filled in,
 * what stops it from being sent (`error`), and the Message ID and Status already written.
 */
function wapiReadRows_(sheet, layout, spans) {
  var last = sheet.getLastRow();
  if (last < 2) return [];
  var width = Math.max(sheet.getLastColumn(), layout.headers.length);
  var range = sheet.getRange(2, 1, last - 1, width);
  var values = range.getValues();
  var shown = range.getDisplayValues();
  var columns = {};
  layout.headers.forEach(function (header, i) {
    if (header && !(header.toLowerCase() in columns)) columns[header.toLowerCase()] = i;
  });
  var rows = [];
  values.forEach(function (rowValues, i) {
    var rowNumber = i + 2;
    if (spans && !spans.some(function (s) { return rowNumber >= s[0] && rowNumber <= s[1]; })) return;
    var phone = wapiPhoneOf_(rowValues[layout.phone - 1], shown[i][layout.phone - 1]);
    var template = String(shown[i][layout.message - 1]);
    if (!phone && !template.trim()) return;
    var missing = [];
    var text = template.replace(/\{\{\s*([^{}]+?)\s*\}\}/g, function (whole, name) {
      var index = columns[name.toLowerCase()];
      if (index === undefined) {
        missing.push(name);
        return whole;
      }
      return shown[i][index];
    });
    var error = '';
    if (!phone) error = 'no phone number';
    else if (!text.trim()) error = 'no message';
    else if (missing.length) error = 'no column named ' + missing.join(', ') + ' for {{' + missing[0] + '}}';
    rows.push({
      row: rowNumber,
      phone: phone,
      text: text,
      error: error,
      messageId: layout.id ? String(shown[i][layout.id - 1]).trim() : '',
      status: layout.status ? String(shown[i][layout.status - 1]).trim() : '',
    });
  });
  return rows;
}

/** "+92 300-1234567", 923001234567 (a number cell) → "923001234567"; group JIDs as written. */
function wapiPhoneOf_(value, shown) {
  if (typeof value === 'number') return String(Math.round(value));
  var text = String(shown).trim();
  if (/@g\.us$/.test(text)) return text;
  return text.replace(/[\s().\-]/g, '').replace(/^\+/, '');
}

/**
 * Writes `updates` ({row, status?, id?, time?, check?}) into their columns: per column, one read
 * and one write of the block of rows they span.
 */
function wapiWriteRows_(sheet, layout, updates) {
  if (!updates.length) return;
  var first = Math.min.apply(null, updates.map(function (u) { return u.row; }));
  var last = Math.max.apply(null, updates.map(function (u) { return u.row; }));
  ['status', 'id', 'time', 'check'].forEach(function (role) {
    var mine = updates.filter(function (u) { return role in u; });
    if (!mine.length || !layout[role]) return;
    var range = sheet.getRange(first, layout[role], last - first + 1, 1);
    var block = range.getValues();
    mine.forEach(function (u) {
      block[u.row - first][0] = u[role];
    });
    range.setValues(block);
  });
}

/** A passing message in the sheet's corner; it shows nowhere when a trigger runs, and never fails the run. */
function wapiToast_(text, seconds) {
  try {
    SpreadsheetApp.getActiveSpreadsheet().toast(text, 'WhatsApp', seconds);
  } catch (e) {
    // Only cosmetic.
  }
}

/** Progress and outcomes, as a note on the Status header (visible in the sheet, even from a trigger). */
function wapiNote_(sheet, layout, text) {
  var at = new Date().toISOString().slice(0, 19).replace('T', ' ');
  sheet.getRange(1, layout.status).setNote('WhatsApp — ' + at + ' UTC\n' + text);
}
