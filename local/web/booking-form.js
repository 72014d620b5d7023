/*
 * Booking form: progressive enhancement of a plain HTML form (it works without this script).
 * With it, open times load in place, the booking is posted with fetch (JSON, with an
 * Idempotency-Key), and the answer is shown on the page. No dependencies, no build step.
 */
(() => {
  "use strict";

  const UTM_FIELDS = ["utm_source", "utm_medium", "utm_campaign"];
  // Only for the plain (no-JavaScript) post: a JSON client reads the answer itself.
  const REDIRECT_FIELDS = ["success_url", "failure_url"];
  // A fresh token per attempt must not turn a retry of the same booking into a new one.
  const CAPTCHA_FIELD = "cf-turnstile-response";
  // How many days of open times a visitor is shown (GET /open-times?days=).
  const DAYS_SHOWN = 7;

  const messages = readMessages();

  function readMessages() {
    const node = document.getElementById("booking-messages");
    try {
      return node ? JSON.parse(node.textContent) : {};
    } catch {
      return {};
    }
  }

  function codeMessage(code, serverMessage) {
    const codes = messages.codes || {};
    return codes[code] || serverMessage || codes.default ||
      "Something went wrong and nothing was booked. Please try again.";
  }

  function fieldMessage(field) {
    const fields = messages.fields || {};
    return fields[field] || fields.default || "Check this field.";
  }

  function uuid4() {
    if (window.crypto && typeof crypto.randomUUID === "function") {
      return crypto.randomUUID();
    }
    // randomUUID needs a secure context; getRandomValues works on plain http too.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function formatDay(mmddyyyy) {
    const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(mmddyyyy || "");
    if (!m) return String(mmddyyyy || "");
    const day = new Date(Date.UTC(Number(m[3]), Number(m[1]) - 1, Number(m[2])));
    return day.toLocaleDateString(document.documentElement.lang || undefined, {
      weekday: "long", month: "long", day: "numeric", timeZone: "UTC",
    });
  }

  function fillUtmFields(params) {
    for (const name of UTM_FIELDS) {
      const value = params.get(name);
      if (!value) continue;
      for (const input of document.querySelectorAll(`input[type=hidden][name="${name}"]`)) {
        if (!input.value) input.value = value;
      }
    }
  }

  function showThanks(params) {
    const idNode = document.getElementById("appointment-id");
    const ref = document.getElementById("appointment-ref");
    const id = params.get("appointment_id");
    if (!idNode || !ref || idNode.textContent || !id) return;
    idNode.textContent = id;
    ref.hidden = false;
  }

  function enhanceBookingForm(form, params) {
    const apiBase = (form.dataset.apiUrl || "").replace(/\/+$/, "");
    const typeForm = document.getElementById("type-form");
    const typeSelect = document.getElementById("appointment_type");
    const slotDays = document.getElementById("slot-days");
    const slotsStatus = document.getElementById("slots-status");
    const alertBox = document.getElementById("form-alert");
    const button = form.querySelector("button[type=submit]");
    const confirmation = document.getElementById("confirmation");
    let openTimesRequest = null;
    let attempt = null; // {fingerprint, key}: the same data is re-sent with the same key
    let posting = false;

    // The script shows the API's own validation messages, one per field, in one place.
    form.noValidate = true;

    function setAlert(text) {
      alertBox.textContent = text || "";
    }

    function wrapperOf(field) {
      return form.querySelector(`[data-field="${CSS.escape(field)}"]`);
    }

    function controlsOf(wrapper) {
      return Array.from(wrapper.querySelectorAll("input, select, textarea"));
    }

    function addToken(el, attr, token) {
      const tokens = (el.getAttribute(attr) || "").split(/\s+/).filter(Boolean);
      if (!tokens.includes(token)) tokens.push(token);
      el.setAttribute(attr, tokens.join(" "));
    }

    function removeToken(el, attr, token) {
      const tokens = (el.getAttribute(attr) || "").split(/\s+/).filter((t) => t && t !== token);
      if (tokens.length) el.setAttribute(attr, tokens.join(" "));
      else el.removeAttribute(attr);
    }

    function markInvalid(field, text) {
      const wrapper = wrapperOf(field);
      if (!wrapper) return false;
      const error = wrapper.querySelector(".field-error");
      error.textContent = text;
      for (const control of controlsOf(wrapper)) {
        control.setAttribute("aria-invalid", "true");
        addToken(control, "aria-describedby", error.id);
      }
      return true;
    }

    function clearField(wrapper) {
      const error = wrapper.querySelector(".field-error");
      if (error) error.textContent = "";
      for (const control of controlsOf(wrapper)) {
        control.removeAttribute("aria-invalid");
        if (error) removeToken(control, "aria-describedby", error.id);
      }
    }

    function clearErrors() {
      setAlert("");
      for (const wrapper of form.querySelectorAll("[data-field]")) clearField(wrapper);
    }

    function focusFirstInvalid() {
      const first = form.querySelector("[aria-invalid=true]");
      if (first) {
        first.focus();
        return true;
      }
      if (wrapperOf("slot_id").querySelector(".field-error").textContent) {
        // No time to pick from yet: the way forward is the kind of visit.
        typeSelect.focus();
        return true;
      }
      return false;
    }

    function showFieldErrors(errors) {
      const unplaced = [];
      for (const error of errors) {
        const field = String(error.field || "").split(".").pop();
        // The page's own wording first (reworded or translated in the markup), else the API's.
        const text = (messages.fields || {})[field] || error.message || fieldMessage(field);
        if (!markInvalid(field, text)) unplaced.push(text);
      }
      return unplaced;
    }

    function setSlotsStatus(text) {
      slotsStatus.textContent = text;
    }

    function renderDays(days) {
      slotDays.textContent = "";
      let index = 0;
      for (const day of days) {
        if (!day || !day.available || !Array.isArray(day.times) || !day.times.length) continue;
        const fieldset = document.createElement("fieldset");
        fieldset.className = "slot-day";
        const legend = document.createElement("legend");
        legend.textContent = formatDay(day.date);
        const times = document.createElement("div");
        times.className = "slot-times";
        // One choice per start time: a visitor picks a time, not a provider or a room.
        const starts = new Set();
        for (const time of day.times) {
          if (!time || !time.uuid) continue;
          const start = time.start || time.value || time.uuid;
          if (starts.has(start)) continue;
          starts.add(start);
          const id = `slot-${index++}`;
          const label = document.createElement("label");
          label.className = "slot";
          label.htmlFor = id;
          const radio = document.createElement("input");
          radio.type = "radio";
          radio.name = "slot_id";
          radio.id = id;
          radio.value = time.uuid;
          radio.required = true;
          const text = document.createElement("span");
          text.textContent = time.label || time.value || time.start || "";
          label.append(radio, " ", text);
          times.append(label);
        }
        if (!times.childElementCount) continue;
        fieldset.append(legend, times);
        slotDays.append(fieldset);
      }
      return index;
    }

    async function loadOpenTimes(type) {
      if (openTimesRequest) openTimesRequest.abort();
      slotDays.textContent = "";
      clearField(wrapperOf("slot_id"));
      if (!type) {
        setSlotsStatus(codeMessage("choose_type"));
        return;
      }
      const request = new AbortController();
      openTimesRequest = request;
      slotDays.setAttribute("aria-busy", "true");
      setSlotsStatus("Loading open times…");
      const query = new URLSearchParams({
        search_from_date: new Date().toISOString(),
        appointment_type: type,
        days: String(DAYS_SHOWN),
      });
      try {
        const response = await fetch(`${apiBase}/open-times?${query}`, {
          headers: { Accept: "application/json" },
          signal: request.signal,
        });
        const body = await response.json().catch(() => null);
        if (!response.ok || !body || body.success !== true || !Array.isArray(body.data)) {
          throw new Error(`open times answered ${response.status}`);
        }
        const count = renderDays(body.data);
        setSlotsStatus(count
          ? `${count} open time${count === 1 ? "" : "s"}. Choose one.`
          : codeMessage("no_open_times"));
      } catch (error) {
        if (error.name !== "AbortError") setSlotsStatus(codeMessage("open_times_failed"));
      } finally {
        if (openTimesRequest === request) {
          openTimesRequest = null;
          slotDays.removeAttribute("aria-busy");
        }
      }
    }

    function collect() {
      const payload = {};
      for (const [name, value] of new FormData(form)) {
        if (typeof value !== "string" || !value.trim() || REDIRECT_FIELDS.includes(name)) continue;
        payload[name] = value;
      }
      return payload;
    }

    function idempotencyKey(payload) {
      const { [CAPTCHA_FIELD]: _token, ...booking } = payload;
      const fingerprint = JSON.stringify(booking);
      if (!attempt || attempt.fingerprint !== fingerprint) attempt = { fingerprint, key: uuid4() };
      return attempt.key;
    }

    function setBusy(busy) {
      posting = busy;
      button.disabled = busy;
      if (busy) {
        button.dataset.label = button.textContent;
        button.textContent = "Booking…";
      } else if (button.dataset.label) {
        button.textContent = button.dataset.label;
      }
    }

    function chosenSlotText() {
      const radio = form.querySelector("input[name=slot_id]:checked");
      if (!radio) return "";
      const legend = radio.closest("fieldset").querySelector("legend");
      return `${legend ? legend.textContent : ""} at ${radio.labels[0].textContent.trim()}`;
    }

    function showConfirmation(data, payload, when) {
      const requested = String(data.status || "").toUpperCase() === "REQUESTED";
      document.getElementById("confirmation-title").textContent =
        requested ? "Appointment requested" : "Appointment booked";
      const pet = data.patient_name || payload.patient_name || "your pet";
      const time = when || (data.start ? new Date(data.start).toLocaleString() : "");
      document.getElementById("confirmation-text").textContent =
        `${pet}${time ? `, ${time}` : ""}. ` +
        (requested ? "The practice will confirm it shortly." : "We look forward to seeing you.");
      document.getElementById("confirmation-id").textContent = String(data.id ?? "");
      form.hidden = true;
      typeForm.hidden = true;
      confirmation.hidden = false;
      confirmation.focus();
    }

    function resetCaptcha() {
      if (window.turnstile && typeof window.turnstile.reset === "function") window.turnstile.reset();
    }

    async function submit() {
      clearErrors();
      const payload = collect();
      const when = chosenSlotText();
      setBusy(true);
      let response;
      let body = null;
      try {
        response = await fetch(`${apiBase}/bookings`, {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json",
            "Idempotency-Key": idempotencyKey(payload),
          },
          body: JSON.stringify(payload),
        });
        body = await response.json().catch(() => null);
      } catch {
        setAlert(codeMessage("network"));
        return;
      } finally {
        setBusy(false);
      }
      if (response.ok && body && body.success === true && body.data) {
        showConfirmation(body.data, payload, when);
        return;
      }
      resetCaptcha();
      const code = body && body.code;
      const errors = body && Array.isArray(body.errors) ? body.errors : [];
      const unplaced = showFieldErrors(errors);
      setAlert([codeMessage(code, body && body.message), ...unplaced].join(" "));
      if (code === "slot_unavailable") loadOpenTimes(typeSelect.value);
      if (!focusFirstInvalid()) button.focus();
    }

    // A failure redirect (plain post on a page without a server behind it) names the error
    // code and the fields, never their values.
    function showRedirectError() {
      const code = params.get("error");
      if (!code) return;
      setAlert(codeMessage(code));
      for (const field of (params.get("fields") || "").split(",").filter(Boolean)) {
        markInvalid(field, fieldMessage(field));
      }
      focusFirstInvalid();
    }

    typeSelect.addEventListener("change", () => loadOpenTimes(typeSelect.value));
    typeForm.addEventListener("submit", (event) => {
      event.preventDefault();
      loadOpenTimes(typeSelect.value);
    });
    form.addEventListener("input", (event) => {
      const wrapper = event.target.closest("[data-field]");
      if (wrapper) clearField(wrapper);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!posting) submit();
    });

    showRedirectError();
    // The server may already have rendered the open times (?appointment_type=...).
    if (typeSelect.value && !slotDays.querySelector("input[name=slot_id]")) {
      loadOpenTimes(typeSelect.value);
    } else if (!typeSelect.value && params.get("appointment_type")) {
      typeSelect.value = params.get("appointment_type");
      if (typeSelect.value) loadOpenTimes(typeSelect.value);
    }
  }

  const params = new URLSearchParams(window.location.search);
  fillUtmFields(params);
  showThanks(params);
  const form = document.getElementById("booking-form");
  if (form) enhanceBookingForm(form, params);
})();
