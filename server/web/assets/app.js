// crated's pages work without this file: it adds copy buttons and
// nothing else.
"use strict";
(function () {
	function copyText(text) {
		if (navigator.clipboard && navigator.clipboard.writeText)
			return navigator.clipboard.writeText(text);
		return new Promise(function (ok, fail) {
			var t = document.createElement("textarea");
			t.value = text;
			t.setAttribute("readonly", "");
			t.className = "skip";
			document.body.appendChild(t);
			t.select();
			var done = document.execCommand("copy");
			document.body.removeChild(t);
			if (done)
				ok();
			else
				fail(new Error("copy refused"));
		});
	}
	document.querySelectorAll("button.copy").forEach(function (b) {
		var target = document.querySelector(b.getAttribute("data-copy"));
		if (!target)
			return;
		b.hidden = false;
		b.addEventListener("click", function () {
			var label = b.textContent;
			copyText(target.textContent).then(function () {
				b.textContent = "Copied";
			}, function () {
				b.textContent = "Select and copy";
			}).then(function () {
				setTimeout(function () { b.textContent = label; },
				    1500);
			});
		});
	});
}());
