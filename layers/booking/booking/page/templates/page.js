// The booking page works without this script; with it, days and times change without a reload,
// fields are checked as they are left, and an embedding page learns the page's height.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var form = document.getElementById("booking-form");
  var EMAIL = /^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$/;

  function tellParent() {
    if (window.parent === window) return;
    var height = Math.ceil(root.scrollHeight);
    window.parent.postMessage({ type: "booking-page:height", height: height }, "*");
  }
  if (window.ResizeObserver) new ResizeObserver(tellParent).observe(document.body);
  window.addEventListener("load", tellParent);
  tellParent();

  if (!form) return;
  var picker = document.getElementById("picker");
  var status = document.getElementById("picker-status");
  var sending = false;

  // -- days and times without a reload ---------------------------------------------------------
  function chosenType() {
    var checked = form.querySelector("input[name=appointment_type]:checked");
    return checked ? checked.value : "";
  }

  function say(text) {
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function loadPicker(day, focusValue, fallback) {
    var query = "part=picker&appointment_type=" + encodeURIComponent(chosenType());
    if (day) query += "&day=" + encodeURIComponent(day);
    picker.setAttribute("aria-busy", "true");
    fetch(form.getAttribute("data-picker") + "?" + query, {
      credentials: "same-origin",
      headers: { Accept: "text/html" }
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      picker.innerHTML = html;
      picker.removeAttribute("aria-busy");
      var legend = picker.querySelector(".times legend");
      var notice = picker.querySelector(".notice");
      var count = picker.querySelectorAll("input[name=slot_id]").length;
      say(legend ? legend.textContent + ": " + count + " open times." : (notice ? notice.textContent : ""));
      if (focusValue) {
        var again = picker.querySelector('button[value="' + focusValue + '"]') ||
          picker.querySelector("button[aria-pressed=true]") || picker.querySelector(".week-range");
        if (again) {
          if (!again.matches("button")) again.setAttribute("tabindex", "-1");
          again.focus();
        }
      }
    }).catch(function () {
      picker.removeAttribute("aria-busy");
      if (fallback) form.requestSubmit(fallback);
    });
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "appointment_type") {
      clearError("appointment_type");
      loadPicker("", "", form.querySelector("button[value=type]"));
    } else if (event.target.name === "slot_id") {
      clearError("slot_id");
    }
  });

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[name=step]");
    if (!button || button.value.indexOf("day:") !== 0) return;
    event.preventDefault();
    loadPicker(button.value.slice(4), button.value, button);
  });

  // -- checks as fields are left, and before sending --------------------------------------------
  function errorFor(input) {
    var value = input.value.trim();
    if (input.name === "email" || input.name === "phone") {
      var email = form.elements.email.value.trim();
      var phone = form.elements.phone.value.trim();
      if (!email && !phone) return input.name === "email" ? input.getAttribute("data-missing") : "";
      if (input.name === "email" && email && !EMAIL.test(email)) return input.getAttribute("data-invalid");
      if (input.name === "phone" && phone) {
        var digits = phone.replace(/\D/g, "").length;
        if (!/^[0-9+()./ \-]+$/.test(phone) || digits < 7 || digits > 15) return input.getAttribute("data-invalid");
      }
      return "";
    }
    if (!value && input.hasAttribute("required")) return input.getAttribute("data-missing");
    return "";
  }

  function holderOf(name) {
    if (name === "appointment_type") return document.getElementById("step-type");
    if (name === "slot_id") return document.getElementById("step-time");
    return document.getElementById("field-" + name);
  }

  function showError(name, message) {
    var holder = holderOf(name);
    if (!holder) return;
    var id = name + "-error";
    var node = document.getElementById(id);
    if (!node) {
      node = document.createElement("p");
      node.className = "field-error";
      node.id = id;
      var label = holder.querySelector(":scope > label, :scope > legend");
      if (name === "slot_id") holder.appendChild(node);
      else label.insertAdjacentElement("afterend", node);
    }
    node.innerHTML = '<span class="vh">Error: </span>';
    node.appendChild(document.createTextNode(message));
    var control = name === "appointment_type" || name === "slot_id" ? holder : document.getElementById(name);
    if (control.tagName !== "FIELDSET") control.setAttribute("aria-invalid", "true");
    var described = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (described.indexOf(id) < 0) described.push(id);
    control.setAttribute("aria-describedby", described.join(" "));
  }

  function clearError(name) {
    var node = document.getElementById(name + "-error");
    if (node) node.remove();
    var control = name === "appointment_type" || name === "slot_id" ? holderOf(name) : document.getElementById(name);
    if (!control) return;
    control.removeAttribute("aria-invalid");
    var described = (control.getAttribute("aria-describedby") || "").split(" ").filter(function (part) {
      return part && part !== name + "-error";
    });
    if (described.length) control.setAttribute("aria-describedby", described.join(" "));
    else control.removeAttribute("aria-describedby");
  }

  form.addEventListener("focusout", function (event) {
    var input = event.target;
    if (!input.name || !input.hasAttribute("data-invalid")) return;
    if (!input.value.trim() && input.name !== "email" && input.name !== "phone") return;
    var names = input.name === "email" || input.name === "phone" ? ["email", "phone"] : [input.name];
    names.forEach(function (name) {
      var message = errorFor(form.elements[name]);
      if (message && form.elements[name].value.trim()) showError(name, message);
      else if (!message) clearError(name);
    });
  });

  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    if (submitter && submitter.value !== "book") return;
    if (sending) { event.preventDefault(); return; }
    var problems = [];
    if (!chosenType()) problems.push(["appointment_type", "Choose the kind of visit"]);
    else if (!form.querySelector("input[name=slot_id]:checked")) problems.push(["slot_id", "Choose a day and a time"]);
    ["first_name", "last_name", "email", "phone", "patient_name"].forEach(function (name) {
      var message = errorFor(form.elements[name]);
      if (message) problems.push([name, message]);
      else clearError(name);
    });
    if (!problems.length) {
      sending = true;
      var book = document.getElementById("book-button");
      book.setAttribute("aria-busy", "true");
      book.textContent = "Booking…";
      return;
    }
    event.preventDefault();
    problems.forEach(function (problem) { showError(problem[0], problem[1]); });
    var summary = document.getElementById("error-summary");
    if (!summary) {
      summary = document.createElement("div");
      summary.className = "error-summary";
      summary.id = "error-summary";
      summary.tabIndex = -1;
      summary.setAttribute("aria-labelledby", "error-summary-title");
      form.parentNode.insertBefore(summary, form);
    }
    summary.innerHTML = '<h2 id="error-summary-title">There is a problem</h2><ul class="error-list"></ul>';
    var list = summary.querySelector("ul");
    problems.forEach(function (problem) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      var target = problem[0] === "slot_id" ? (document.getElementById("slot_id") ? "slot_id" : "step-time") : problem[0];
      link.href = "#" + target;
      link.textContent = problem[1];
      item.appendChild(link);
      list.appendChild(item);
    });
    summary.focus();
  });

  // A link of the error summary moves focus to its field, not only the view.
  document.addEventListener("click", function (event) {
    var link = event.target.closest(".error-list a");
    if (!link) return;
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) return;
    event.preventDefault();
    if (target.tagName === "FIELDSET") target = target.querySelector("input, button") || target;
    target.focus();
  });
})();
