// appsscript.json asks for exactly the permissions WhatsAppApi.gs uses, and the narrowest ones:
// this spreadsheet only (not all of them), Drive read-only. The fakes refuse any call whose scope
// the manifest lacks, so the other tests would fail on a missing one; this test catches a scope
// asked for but no longer used, which a person would still have to grant.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { it } from 'node:test';

import { MANIFEST, SCRIPT } from './support.mjs';

const SCOPE_OF = {
  'https://www.googleapis.com/auth/spreadsheets.currentonly': /SpreadsheetApp\./,
  'https://www.googleapis.com/auth/script.container.ui': /\.showModalDialog\(/,
  'https://www.googleapis.com/auth/script.external_request': /UrlFetchApp\.fetch\(/,
  'https://www.googleapis.com/auth/script.scriptapp': /ScriptApp\.newTrigger\(/,
  'https://www.googleapis.com/auth/drive.readonly': /DriveApp\.getFileById\(/,
};

it('the manifest runs on V8 and asks for the narrowest scopes the script uses, each of them used', () => {
  const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8'));
  const script = fs.readFileSync(SCRIPT, 'utf8');
  assert.equal(manifest.runtimeVersion, 'V8');
  assert.deepEqual([...manifest.oauthScopes].sort(), Object.keys(SCOPE_OF).sort());
  for (const [scope, use] of Object.entries(SCOPE_OF)) assert.match(script, use, `${scope} is asked for: the script must use it`);
  for (const [, service] of script.matchAll(/\b([A-Z]\w*(?:App|Service))\.[a-z]/g)) {
    assert.ok(
      ['SpreadsheetApp', 'UrlFetchApp', 'ScriptApp', 'DriveApp', 'PropertiesService', 'LockService', 'HtmlService'].includes(service),
      `${service}: a service the manifest and the fakes do not cover`
    );
  }
});
