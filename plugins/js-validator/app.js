// The template's validator, in JavaScript (componentize-js, through jco).
//
// Every field the site lists in `config.fields` is text, trimmed, at most
// `max_length` characters (100 by default); fields it does not list are refused.
//
//     {"fields": ["employer", "team"], "max_length": 40}
//
// Build: ./build.sh (writes js_validator.wasm here).

import { write } from "userapi:plugins/log@0.1.0";

function readConfig(text) {
  const config = JSON.parse(text) || {};
  return { fields: config.fields || [], maxLength: config.max_length ?? 100 };
}

// The host passes field errors through as written: Open edX's framing is ours to add.
function refuse(field, message) {
  return { field, developerMessage: `Error in extended profile field [${field}]: ${message}`, userMessage: message };
}

export const validator = {
  validate(request) {
    const { fields, maxLength } = readConfig(request.config);
    const accepted = [];
    const refused = [];
    for (const field of request.submitted) {
      if (!fields.includes(field.name)) {
        refused.push(refuse(field.name, "This field is not part of the profile."));
        continue;
      }
      const value = JSON.parse(field.value);
      if (value === null) {
        accepted.push(field);
      } else if (typeof value === "string") {
        const text = value.trim();
        if ([...text].length > maxLength) {
          refused.push(refuse(field.name, `Use at most ${maxLength} characters.`));
        } else {
          accepted.push({ name: field.name, value: JSON.stringify(text) });
        }
      } else {
        refused.push(refuse(field.name, "Enter text."));
      }
    }
    if (refused.length > 0) {
      write("info", `refused ${refused.length} field(s) for ${request.username}`);
      // A thrown value is the `err` of the result.
      throw refused;
    }
    return accepted;
  },

  describe(config) {
    return readConfig(config).fields.map((name) => ({
      name,
      label: name.replaceAll("_", " "),
      type: "text",
      required: false,
      choices: [],
    }));
  },
};
