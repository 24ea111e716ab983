/* global FormData, location, addEventListener, removeEventListener */
// The dashboard's shell: the sign-in form, then the views by location hash (#/runs,
// #/runs/ID, #/tasks/ID, #/workers, #/schedules). Nothing but the form is shown until a
// token has been checked against the API.
import { render } from '/dashboard/vendor/preact.js';
import { useEffect, useState } from '/dashboard/vendor/hooks.js';
import { api, onUnauthorized, session } from '/dashboard/api.js';
import { html } from '/dashboard/ui.js';
import { RunsView } from '/dashboard/runs-view.js';
import { RunView } from '/dashboard/run-view.js';
import { TaskDetail } from '/dashboard/task-view.js';
import { WorkersView } from '/dashboard/workers-view.js';
import { SchedulesView } from '/dashboard/schedules-view.js';

function SignIn({ onSignedIn, notice }) {
  const [error, setError] = useState(notice);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const token = new FormData(e.target).get('token')?.toString().trim() ?? '';
    if (token === '') return setError('Enter a token.');
    setBusy(true);
    try {
      await api('/runs?limit=1', { token });
      session.signIn(token);
      onSignedIn();
    } catch (err) {
      setError(err.status === 401 ? 'That token was not accepted.' : err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<form
    class="sign-in"
    data-testid="sign-in"
    method="post"
    action="#"
    onSubmit=${submit}
  >
    <h1>baton</h1>
    <label for="token">Access token</label>
    <input id="token" name="token" type="password" autocomplete="off" required />
    <button type="submit" disabled=${busy}>Sign in</button>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`;
}

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function View({ hash }) {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'runs' && parts[1]) return html`<${RunView} runId=${parts[1]} />`;
  if (parts[0] === 'tasks' && parts[1])
    return html`<${TaskDetail} taskId=${parts[1]} version=${0} />`;
  if (parts[0] === 'workers') return html`<${WorkersView} />`;
  if (parts[0] === 'schedules') return html`<${SchedulesView} />`;
  return html`<${RunsView} />`;
}

function App() {
  const [signedIn, setSignedIn] = useState(session.token !== null);
  const [notice, setNotice] = useState(null);
  const hash = useHash();
  useEffect(
    () =>
      onUnauthorized(() => {
        session.signOut();
        setNotice('Your token is no longer accepted; sign in again.');
        setSignedIn(false);
      }),
    [],
  );
  if (!signedIn) return html`<${SignIn} notice=${notice} onSignedIn=${() => setSignedIn(true)} />`;
  const signOut = () => {
    session.signOut();
    setNotice(null);
    setSignedIn(false);
  };
  return html`<div class="layout">
    <nav>
      <strong>baton</strong>
      <a href="#/runs" data-testid="nav-runs">Runs</a>
      <a href="#/workers" data-testid="nav-workers">Workers</a>
      <a href="#/schedules" data-testid="nav-schedules">Schedules</a>
      <button class="sign-out" onClick=${signOut}>Sign out</button>
    </nav>
    <${View} hash=${hash} />
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
