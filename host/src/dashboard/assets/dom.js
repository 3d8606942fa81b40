// Building the page: elements made with createElement, text always put in as text nodes (what
// users typed is never parsed as HTML), a copy button, and a two-step confirmation.

/** `h("td", {class: "x"}, "text", child)`; `on…` props become event listeners. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  add(el, children);
  return el;
}

/** Replaces every child of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

function add(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** A table cell labelled for the stacked phone layout; its content kept in one box. */
export function cell(label, props, ...children) {
  return h("td", { "data-label": label, ...props }, h("div", {}, ...children));
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Sets the text of every `[data-bind=name]`. */
export function bind(name, text) {
  for (const el of $$(`[data-bind="${name}"]`)) el.textContent = text;
}

/** Text with `backticks` shown as code, the way the API's descriptions are written. */
export function codeText(text) {
  return String(text)
    .split("`")
    .map((part, i) => (i % 2 ? h("code", {}, part) : part));
}

/** Copies `text`; the button says whether it worked. */
export async function copy(text, button) {
  const label = button.textContent;
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    // Plain http on an IP address is no secure context: fall back to a selection.
    const area = h("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" }, text);
    document.body.append(area);
    area.select();
    copied = document.execCommand("copy");
    area.remove();
  }
  button.textContent = copied ? "Copied" : "Select and copy by hand";
  setTimeout(() => (button.textContent = label), 1500);
}

/**
 * A button that asks before it acts: the first click arms it (its label becomes `question`),
 * a second click within 4 s runs `action`.
 */
export function confirmButton(label, question, action, props = {}) {
  const button = h("button", { type: "button", ...props }, label);
  let timer = 0;
  button.addEventListener("click", () => {
    if (button.classList.contains("armed")) {
      clearTimeout(timer);
      button.classList.remove("armed");
      button.textContent = label;
      action(button);
      return;
    }
    button.classList.add("armed");
    button.textContent = question;
    timer = setTimeout(() => {
      button.classList.remove("armed");
      button.textContent = label;
    }, 4000);
  });
  return button;
}

/** Shows the error of an API call: its sentence, its code, and each field it names. */
export function errorView(error) {
  const details = (error.details ?? []).map((d) => h("li", {}, h("code", {}, d.field), " ", d.message));
  return [
    h("p", {}, error.code ? [h("code", { class: "code-label" }, error.code), " "] : null, error.message),
    details.length ? h("ul", { class: "details" }, details) : null,
  ];
}
