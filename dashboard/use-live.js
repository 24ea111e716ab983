// A view's data read from the API and read again after changes: every `change` message of the
// event feed (debounced) reloads it, so changes made by any process show without reload.
import { useEffect, useState } from '/dashboard/vendor/hooks.js';
import { api, debounce, follow } from '/dashboard/api.js';

/** `{ data, error }` for GET `path`, `pick` applied to the body; `data` is null until loaded. */
export function useLive(path, pick) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const load = async () => {
      try {
        setData(pick(await api(path)));
        setError(null);
      } catch (e) {
        setError(e.message);
      }
    };
    void load();
    const refresh = debounce(() => void load(), 200);
    return follow('', (m) => m.event === 'change' && refresh());
  }, [path]);
  return { data, error };
}
