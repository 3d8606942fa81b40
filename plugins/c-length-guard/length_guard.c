// c-length-guard: a wapi filter plugin that refuses texts longer than `max_chars` characters
// and, optionally, recipients whose number starts with one of `block_prefixes`.
//
// `plugin.h` and `plugin.c` are generated from plugin-sdk/wit by `cargo xtask plugins` (see
// README.md). Ownership follows wit-bindgen's C conventions: an export owns its arguments and
// frees them; what it returns is freed by the generated code after the host has read it, so
// returned strings and lists are always heap copies.

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#define DEFAULT_MAX_CHARS 1000
#define GROUP_SUFFIX "@g.us"

// A heap copy of a NUL-terminated string list, as parsed from the config.
typedef struct {
  char **items;
  size_t len;
} string_list_t;

// ---- small helpers ---------------------------------------------------------------------------

static void *checked_malloc(size_t size) {
  void *ptr = malloc(size == 0 ? 1 : size);
  if (ptr == NULL) {
    abort();  // out of the memory the host granted: a trap, reported as the plugin's failure
  }
  return ptr;
}

// Joins NUL-terminated parts, up to a NULL, into `out` as a heap copy (freed by the generated
// code); returns false so a hook can `return fail(err, ...)`. Used instead of snprintf, which
// would pull stdio — and with it WASI imports — into the module.
static bool fail(plugin_string_t *out, const char *first, ...) {
  va_list args;
  size_t len = 0;
  va_start(args, first);
  for (const char *part = first; part != NULL; part = va_arg(args, const char *)) {
    len += strlen(part);
  }
  va_end(args);
  char *text = checked_malloc(len);
  size_t at = 0;
  va_start(args, first);
  for (const char *part = first; part != NULL; part = va_arg(args, const char *)) {
    memcpy(text + at, part, strlen(part));
    at += strlen(part);
  }
  va_end(args);
  out->ptr = (uint8_t *)text;
  out->len = len;
  return false;
}

// `value` in decimal, written into `buffer`; returns where the digits start.
static const char *decimal(unsigned long long value, char buffer[21]) {
  char *at = buffer + 20;
  *at = '\0';
  do {
    *--at = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  return at;
}

// A key of the plugin's config table as a NUL-terminated heap string, or NULL when absent.
static char *config_get(const char *key) {
  plugin_string_t name;
  plugin_string_t value;
  plugin_string_set(&name, key);
  if (!wapi_plugin_host_config_get(&name, &value)) {
    return NULL;
  }
  char *text = checked_malloc(value.len + 1);
  memcpy(text, value.ptr, value.len);
  text[value.len] = '\0';
  plugin_string_free(&value);
  return text;
}

static void string_list_free(string_list_t *list) {
  for (size_t i = 0; i < list->len; i++) {
    free(list->items[i]);
  }
  free(list->items);
  list->items = NULL;
  list->len = 0;
}

// Characters (Unicode code points) in valid UTF-8: every byte that does not continue a sequence.
static size_t count_code_points(const uint8_t *text, size_t len) {
  size_t count = 0;
  for (size_t i = 0; i < len; i++) {
    if ((text[i] & 0xC0) != 0x80) {
      count++;
    }
  }
  return count;
}

static bool has_prefix(const plugin_string_t *text, const char *prefix) {
  size_t len = strlen(prefix);
  return text->len >= len && memcmp(text->ptr, prefix, len) == 0;
}

static bool has_suffix(const plugin_string_t *text, const char *suffix) {
  size_t len = strlen(suffix);
  return text->len >= len && memcmp(text->ptr + text->len - len, suffix, len) == 0;
}

// ---- a JSON array of strings, the form the host gives arrays in ------------------------------

static const char *skip_blanks(const char *at) {
  while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r') {
    at++;
  }
  return at;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends the UTF-8 encoding of a code point below 0x10000 (what one `\uXXXX` escape holds).
static size_t put_utf8(char *out, unsigned code) {
  if (code < 0x80) {
    out[0] = (char)code;
    return 1;
  }
  if (code < 0x800) {
    out[0] = (char)(0xC0 | (code >> 6));
    out[1] = (char)(0x80 | (code & 0x3F));
    return 2;
  }
  out[0] = (char)(0xE0 | (code >> 12));
  out[1] = (char)(0x80 | ((code >> 6) & 0x3F));
  out[2] = (char)(0x80 | (code & 0x3F));
  return 3;
}

// Parses the JSON string starting at `at` (on its opening quote) into a heap copy; returns the
// position after the closing quote, or NULL when it is malformed.
static const char *parse_string(const char *at, char **out) {
  const char *end = at + 1;
  while (*end != '"') {
    if (*end == '\0') return NULL;
    if (*end == '\\' && end[1] != '\0') end++;
    end++;
  }
  // Decoded text is never longer than the escaped one.
  char *text = checked_malloc((size_t)(end - at));
  size_t len = 0;
  for (const char *c = at + 1; c < end; c++) {
    if (*c != '\\') {
      text[len++] = *c;
      continue;
    }
    c++;
    switch (*c) {
      case '"': case '\\': case '/': text[len++] = *c; break;
      case 'b': text[len++] = '\b'; break;
      case 'f': text[len++] = '\f'; break;
      case 'n': text[len++] = '\n'; break;
      case 'r': text[len++] = '\r'; break;
      case 't': text[len++] = '\t'; break;
      case 'u': {
        unsigned code = 0;
        for (int i = 1; i <= 4; i++) {
          int digit = c + i < end ? hex_digit(c[i]) : -1;
          if (digit < 0) {
            free(text);
            return NULL;
          }
          code = code * 16 + (unsigned)digit;
        }
        len += put_utf8(text + len, code);
        c += 4;
        break;
      }
      default:
        free(text);
        return NULL;
    }
  }
  text[len] = '\0';
  *out = text;
  return end + 1;
}

// Parses `json` as an array of strings into `list`; false when it is anything else.
static bool parse_string_array(const char *json, string_list_t *list) {
  list->items = NULL;
  list->len = 0;
  const char *at = skip_blanks(json);
  if (*at++ != '[') return false;
  at = skip_blanks(at);
  if (*at == ']') return *skip_blanks(at + 1) == '\0';
  for (;;) {
    char *item = NULL;
    if (*at != '"' || (at = parse_string(at, &item)) == NULL) {
      string_list_free(list);
      return false;
    }
    char **items = realloc(list->items, (list->len + 1) * sizeof(char *));
    if (items == NULL) abort();
    list->items = items;
    list->items[list->len++] = item;
    at = skip_blanks(at);
    if (*at == ']') break;
    if (*at != ',') {
      string_list_free(list);
      return false;
    }
    at = skip_blanks(at + 1);
  }
  if (*skip_blanks(at + 1) != '\0') {
    string_list_free(list);
    return false;
  }
  return true;
}

// ---- the config ------------------------------------------------------------------------------

// `max_chars`: a whole number, DEFAULT_MAX_CHARS when absent.
static bool read_max_chars(unsigned long long *max_chars, plugin_string_t *err) {
  char *raw = config_get("max_chars");
  if (raw == NULL) {
    *max_chars = DEFAULT_MAX_CHARS;
    return true;
  }
  char *end = raw;
  bool digits_only = raw[0] >= '0' && raw[0] <= '9';
  errno = 0;
  unsigned long long value = digits_only ? strtoull(raw, &end, 10) : 0;
  bool ok = digits_only && *end == '\0' && errno == 0;
  if (!ok) {
    fail(err, "config key `max_chars` must be a whole number, not ", raw, NULL);
  }
  free(raw);
  *max_chars = value;
  return ok;
}

// `block_prefixes`: phone number prefixes, a leading `+` ignored; none when absent.
static bool read_block_prefixes(string_list_t *prefixes, plugin_string_t *err) {
  char *raw = config_get("block_prefixes");
  prefixes->items = NULL;
  prefixes->len = 0;
  if (raw == NULL) {
    return true;
  }
  bool ok = parse_string_array(raw, prefixes);
  free(raw);
  if (!ok) {
    return fail(err, "config key `block_prefixes` must be an array of strings, like [\"92\", \"44\"]", NULL);
  }
  for (size_t i = 0; i < prefixes->len; i++) {
    char *prefix = prefixes->items[i];
    if (prefix[0] == '+') {
      memmove(prefix, prefix + 1, strlen(prefix));
    }
    if (prefix[0] == '\0') {
      string_list_free(prefixes);
      return fail(err, "config key `block_prefixes` holds an empty prefix, which would block everyone", NULL);
    }
  }
  return true;
}

// ---- the hooks -------------------------------------------------------------------------------

void exports_plugin_describe(plugin_info_t *ret) {
  plugin_string_dup(&ret->version, "0.1.0");
  ret->hooks.len = 1;
  ret->hooks.ptr = checked_malloc(sizeof(wapi_plugin_types_hook_t));
  ret->hooks.ptr[0] = WAPI_PLUGIN_TYPES_HOOK_FILTER;
}

// Refuses a blocked recipient first (no edit of the text would help), then a text that is too long.
static bool check(const plugin_outgoing_t *message, plugin_verdict_t *ret, plugin_string_t *err) {
  unsigned long long max_chars;
  string_list_t prefixes;
  if (!read_max_chars(&max_chars, err) || !read_block_prefixes(&prefixes, err)) {
    return false;
  }
  ret->tag = WAPI_PLUGIN_TYPES_VERDICT_ALLOW;
  if (!has_suffix(&message->to, GROUP_SUFFIX)) {
    for (size_t i = 0; i < prefixes.len; i++) {
      if (has_prefix(&message->to, prefixes.items[i])) {
        ret->tag = WAPI_PLUGIN_TYPES_VERDICT_REFUSE;
        fail(&ret->val.refuse, "recipients whose number starts with ", prefixes.items[i], " are blocked", NULL);
        break;
      }
    }
  }
  string_list_free(&prefixes);
  size_t chars = count_code_points(message->text.ptr, message->text.len);
  if (ret->tag == WAPI_PLUGIN_TYPES_VERDICT_ALLOW && chars > max_chars) {
    ret->tag = WAPI_PLUGIN_TYPES_VERDICT_REFUSE;
    char count[21];
    char limit[21];
    fail(&ret->val.refuse, "the text has ", decimal(chars, count), " characters, more than the ",
         decimal(max_chars, limit), " allowed", NULL);
  }
  return true;
}

bool exports_plugin_filter(plugin_outgoing_t *message, plugin_verdict_t *ret, plugin_string_t *err) {
  bool ok = check(message, ret, err);
  plugin_outgoing_free(message);
  return ok;
}

bool exports_plugin_template(plugin_outgoing_t *message, plugin_rendered_t *ret, plugin_string_t *err) {
  (void)err;
  plugin_outgoing_free(message);
  ret->tag = WAPI_PLUGIN_TYPES_RENDERED_KEEP;
  return true;
}

bool exports_plugin_on_event(plugin_event_t *event, plugin_string_t *err) {
  (void)err;
  plugin_event_free(event);
  return true;
}
