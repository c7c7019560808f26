/*
 * The Reports tab and the "superset" XBlock: embeds each Superset dashboard with
 * @superset-ui/embedded-sdk when its tab is first shown. Every .aspects-reports block on the page
 * is set up on its own (no shared globals, several blocks can coexist, each with its own token
 * URL). The SDK asks fetchGuestToken again before each token expires, so tokens are refreshed for
 * as long as the page stays open. Messages come from data-msg-* attributes that Django rendered
 * translated.
 */
(function () {
  'use strict';

  function setStatus(panel, message, isError) {
    var status = panel.querySelector('.aspects-reports-status');
    status.textContent = message || '';
    status.classList.toggle('aspects-reports-error', Boolean(isError));
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : '';
  }

  function fetchGuestToken(root) {
    var request = { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
    if (root.dataset.guestTokenMethod === 'POST') {
      // An XBlock JSON handler: a POST with a JSON body and Django's CSRF token.
      request.method = 'POST';
      request.body = '{}';
      request.headers['Content-Type'] = 'application/json';
      request.headers['X-CSRFToken'] = csrfToken();
    }
    return fetch(root.dataset.guestTokenUrl, request).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok || !body.guestToken) {
          throw new Error(body.error || root.dataset.msgTokenFailed);
        }
        return body.guestToken;
      });
    });
  }

  function probeSuperset(supersetUrl) {
    // An opaque no-cors request: it rejects only when the server cannot be reached at all.
    return fetch(supersetUrl + 'health', { mode: 'no-cors', cache: 'no-store' });
  }

  function embed(root, panel) {
    if (panel.dataset.state === 'loading' || panel.dataset.state === 'embedded') {
      return;
    }
    panel.dataset.state = 'loading';
    setStatus(panel, root.dataset.msgLoading, false);
    var supersetUrl = root.dataset.supersetUrl;
    probeSuperset(supersetUrl)
      .catch(function () { throw new Error(root.dataset.msgUnreachable); })
      .then(function () { return fetchGuestToken(root); })
      .then(function (firstToken) {
        var pending = firstToken;
        return window.supersetEmbeddedSdk.embedDashboard({
          id: panel.dataset.dashboardUuid,
          supersetDomain: supersetUrl.replace(/\/+$/, ''),
          mountPoint: panel.querySelector('.aspects-reports-mount'),
          fetchGuestToken: function () {
            if (pending) {
              var token = pending;
              pending = null;
              return Promise.resolve(token);
            }
            return fetchGuestToken(root).then(function (token) {
              setStatus(panel, '', false);
              return token;
            }, function (error) {
              setStatus(panel, error.message, true);
              throw error;
            });
          },
          // The dashboards' own tabs (Enrollment, Engagement...) stay visible: they are how staff move around.
          dashboardUiConfig: { hideTitle: true, hideTab: false, filters: { visible: false, expanded: false } },
        });
      })
      .then(function () {
        panel.dataset.state = 'embedded';
        setStatus(panel, '', false);
      })
      .catch(function (error) {
        panel.dataset.state = 'failed';  // showing the tab again retries
        setStatus(panel, error.message || root.dataset.msgTokenFailed, true);
      });
  }

  function init(root) {
    if (root.dataset.aspectsReady) {
      return;
    }
    root.dataset.aspectsReady = 'true';
    var tabs = Array.prototype.slice.call(root.querySelectorAll('.aspects-reports-tab'));
    var panels = Array.prototype.slice.call(root.querySelectorAll('.aspects-reports-panel'));
    tabs.forEach(function (tab, index) {
      tab.addEventListener('click', function () {
        tabs.forEach(function (other, i) { other.setAttribute('aria-selected', String(i === index)); });
        panels.forEach(function (panel, i) { panel.hidden = i !== index; });
        embed(root, panels[index]);
      });
    });
    // Lazy: a panel is embedded when it becomes visible (its tab selected, or the whole
    // Reports section shown by the Instructor Dashboard's own navigation).
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          embed(root, entry.target);
        }
      });
    });
    panels.forEach(function (panel) { observer.observe(panel); });
  }

  function initAll() {
    Array.prototype.forEach.call(document.querySelectorAll('.aspects-reports'), init);
  }

  // The "superset" XBlock's initializer (Fragment.initialize_js): the XBlock runtime calls it with
  // the block's element once its HTML is on the page (also when Studio or the LMS inserts it later).
  window.AspectsSupersetXBlock = function (runtime, element) {
    var node = element && element.jquery ? element[0] : element;
    Array.prototype.forEach.call(node.querySelectorAll('.aspects-reports'), init);
    return {};
  };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', initAll);
  } else {
    initAll();
  }
}());
