// HtmlService: HTML for dialogs and sidebars, kept as text with its title and size.

export class HtmlOutput {
  #content;
  #title = '';
  #width = 600;
  #height = 400;

  constructor(content = '') {
    this.#content = String(content);
  }

  getContent() {
    return this.#content;
  }

  setContent(content) {
    this.#content = String(content);
    return this;
  }

  append(addedContent) {
    this.#content += String(addedContent);
    return this;
  }

  appendUntrusted(addedContent) {
    this.#content += String(addedContent).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    return this;
  }

  getTitle() {
    return this.#title;
  }

  setTitle(title) {
    this.#title = String(title);
    return this;
  }

  getWidth() {
    return this.#width;
  }

  setWidth(width) {
    this.#width = width;
    return this;
  }

  getHeight() {
    return this.#height;
  }

  setHeight(height) {
    this.#height = height;
    return this;
  }

  setSandboxMode() {
    return this;
  }

  setXFrameOptionsMode() {
    return this;
  }
}

export function makeHtmlService(env) {
  return Object.freeze({
    SandboxMode: Object.freeze({ EMULATED: 'EMULATED', IFRAME: 'IFRAME', NATIVE: 'NATIVE' }),
    XFrameOptionsMode: Object.freeze({ ALLOWALL: 'ALLOWALL', DEFAULT: 'DEFAULT' }),
    createHtmlOutput(html = '') {
      env.guard('HtmlService.createHtmlOutput');
      return new HtmlOutput(html);
    },
  });
}
