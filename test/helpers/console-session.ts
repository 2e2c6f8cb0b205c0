import { request } from 'undici';

const cookieOf = (setCookie: string | string[] | undefined, name: string): string | undefined => {
  const all = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  return all.find((c) => c.startsWith(`${name}=`))?.split(';')[0];
};

/** A page of the console as a signed-in browser gets it. */
export async function consolePage(url: string, cookie?: string): Promise<{ status: number; body: string }> {
  const res = await request(url, { headers: cookie ? { cookie } : {} });
  return { status: res.statusCode, body: await res.body.text() };
}

/**
 * Signs in to a node's console with a token the way its form does (the form's cookie and
 * field, then the post), and reads the CSRF token its pages carry for the API calls they make.
 */
export async function consoleSignIn(base: string, token: string): Promise<{ cookie: string; csrf: string }> {
  const form = await request(`${base}/ui/sign-in`);
  const formBody = await form.body.text();
  const formCookie = cookieOf(form.headers['set-cookie'], 'sluice_sign_in')!;
  const formToken = /name="_csrf" value="([^"]+)"/.exec(formBody)![1]!;
  const res = await request(`${base}/ui/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: formCookie },
    body: new URLSearchParams({ _csrf: formToken, token, next: '/ui/packages' }).toString(),
  });
  await res.body.dump();
  const cookie = cookieOf(res.headers['set-cookie'], 'sluice_session');
  if (!cookie) throw new Error(`signing in to ${base} failed (${res.statusCode})`);
  const page = await consolePage(`${base}/ui/packages`, cookie);
  return { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(page.body)![1]! };
}
