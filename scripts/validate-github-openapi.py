#!/usr/bin/env python3
"""Validate the sandbox GitHub API's responses against GitHub's published REST
OpenAPI description (the @octokit/openapi npm package).

    mkdir -p /tmp/oa && (cd /tmp/oa && npm pack @octokit/openapi && tar xzf octokit-openapi-*.tgz)
    hearth sandbox --dir /tmp/sbv --speed 3 &
    set -a; . /tmp/sbv/env; set +a
    SB=/tmp/sbv OPENAPI=/tmp/oa/package/generated/api.github.com.deref.json \
        python3 scripts/validate-github-openapi.py

Needs python3 with jsonschema. Prints one line per call and `FAILS n` last.
"""
import json, os, subprocess, time, urllib.request
import jsonschema
spec = json.load(open(os.environ.get('OPENAPI', '/tmp/oa/package/generated/api.github.com.deref.json')))
def conv(s):
    if isinstance(s, dict):
        s = {k: conv(v) for k, v in s.items()}
        if s.pop('nullable', False):
            if 'type' in s:
                t = s['type']; s['type'] = (t if isinstance(t, list) else [t]) + ['null']
                if 'enum' in s: s['enum'] = s['enum'] + [None]
            else:
                s = {'anyOf': [s, {'type': 'null'}]}
        for k in ['example', 'examples', 'x-github']: s.pop(k, None)
        return s
    if isinstance(s, list): return [conv(x) for x in s]
    return s
base = os.environ['GITHUB_API_URL']; tok = os.environ['GH_TOKEN']
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
        headers={'Authorization': 'Bearer ' + tok, 'Content-Type': 'application/json'})
    try:
        r = urllib.request.urlopen(req); return r.status, json.loads(r.read() or b'null')
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b'null')
fails = 0
def check(method, tmpl, path, body=None):
    global fails
    status, data = call(method, path, body)
    op = spec['paths'][tmpl][method.lower()]
    resp = op['responses'].get(str(status))
    if resp is None: print('UNDOCUMENTED STATUS', status, method, path); fails += 1; return data
    content = resp.get('content', {}).get('application/json')
    if content is None: print('ok (no body)', status, method, path); return data
    schema = conv(content['schema'])
    errs = list(jsonschema.Draft7Validator(schema).iter_errors(data))
    if errs:
        fails += 1
        for e in errs[:5]: print('FAIL', method, path, status, list(e.absolute_path), e.message[:200])
    else: print('ok', status, method, path)
    return data
R = '/repos/{owner}/{repo}'
check('GET', '/user', '/user')
check('GET', '/user/repos', '/user/repos')
check('GET', R, '/repos/hearth-demo/api')
rels = check('GET', R + '/releases', '/repos/hearth-demo/api/releases')
check('GET', R + '/releases/{release_id}', '/repos/hearth-demo/api/releases/%d' % rels[0]['id'])
check('GET', R + '/releases/latest', '/repos/hearth-demo/api/releases/latest')
check('GET', R + '/releases/tags/{tag}', '/repos/hearth-demo/api/releases/tags/v0.3.0')
check('GET', R + '/releases/tags/{tag}', '/repos/hearth-demo/api/releases/tags/nope')
clone = os.environ['SB'] + '/repos/api'
subprocess.run(['git', '-C', clone, 'tag', 'v0.5.0'], check=True)
subprocess.run(['git', '-C', clone, 'push', '-q', 'origin', 'v0.5.0'], check=True)
new = check('POST', R + '/releases', '/repos/hearth-demo/api/releases', {'tag_name': 'v0.5.0', 'prerelease': True})
check('POST', R + '/releases', '/repos/hearth-demo/api/releases', {'tag_name': 'v0.5.0'})
check('POST', R + '/releases', '/repos/hearth-demo/api/releases', {'tag_name': 'v0.9.9'})
time.sleep(0.5)
runs = check('GET', R + '/actions/runs', '/repos/hearth-demo/api/actions/runs')
print('run states', [(r['status'], r['conclusion']) for r in runs['workflow_runs'][:2]])
check('GET', R + '/actions/workflows/{workflow_id}/runs', '/repos/hearth-demo/api/actions/workflows/release.yml/runs?per_page=2')
rid = runs['workflow_runs'][0]['id']
check('GET', R + '/actions/runs/{run_id}', '/repos/hearth-demo/api/actions/runs/%d' % rid)
j = check('GET', R + '/actions/runs/{run_id}/jobs', '/repos/hearth-demo/api/actions/runs/%d/jobs' % rid)
print('steps', [(s['status'], s['conclusion']) for s in j['jobs'][0]['steps']])
time.sleep(3)
check('GET', R + '/actions/runs/{run_id}/jobs', '/repos/hearth-demo/api/actions/runs/%d/jobs' % rid)
check('PATCH', R + '/releases/{release_id}', '/repos/hearth-demo/api/releases/%d' % new['id'], {'prerelease': False, 'make_latest': 'true'})
check('POST', R + '/actions/runs/{run_id}/rerun', '/repos/hearth-demo/api/actions/runs/%d/rerun' % rid)
check('GET', R + '/actions/runs/{run_id}/jobs', '/repos/hearth-demo/api/actions/runs/%d/jobs' % rid)
check('DELETE', R + '/releases/{release_id}', '/repos/hearth-demo/api/releases/%d' % new['id'])
print('FAILS', fails)
