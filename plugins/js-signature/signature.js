// js-signature: a wapi template plugin that appends a signature to outgoing texts.
//
// Built into a WebAssembly component by componentize-qjs (QuickJS); see README.md.
// Config, from `[plugins.js-signature]`: `signature` (without it, texts pass unchanged),
// `skip_groups` (optional).

import { configGet } from 'wapi:plugin/host@0.1.0';

const GROUP_SUFFIX = '@g.us';

export function describe() {
  return { version: '0.1.0', hooks: ['template'] };
}

// Appends the signature unless the text already ends with it (trailing blanks aside).
// A message without text (media without a caption) keeps having none. Without a configured
// signature the plugin does nothing, so dropping it into the folder never blocks a send.
export function template(message) {
  const signature = configGet('signature');
  if (signature === null || signature === undefined || signature.trim() === '') {
    return { tag: 'keep' };
  }
  if (message.text === '') {
    return { tag: 'keep' };
  }
  if (skipGroups() && message.to.endsWith(GROUP_SUFFIX)) {
    return { tag: 'keep' };
  }
  if (message.text.trimEnd().endsWith(signature.trimEnd())) {
    return { tag: 'keep' };
  }
  return { tag: 'text', val: message.text + signature };
}

// `skip_groups` arrives as JSON text (`true`); a string "true" is accepted too.
function skipGroups() {
  const value = configGet('skip_groups');
  if (value === null || value === undefined || value === 'false') {
    return false;
  }
  if (value === 'true') {
    return true;
  }
  throw `config key \`skip_groups\` must be true or false, not ${value}`;
}

export function filter(_message) {
  return { tag: 'allow' };
}

export function onEvent(_event) {}
