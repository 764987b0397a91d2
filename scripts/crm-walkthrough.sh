#!/usr/bin/env bash
# A walk through the CRM with curl: create a company, a contact in it, a lead in the
# default "Sales" pipeline, move the lead across the stages to Won, log a call, and read
# the lead's timeline. Every response is printed; the script stops at the first answer
# that is not what it should be.
#
#   MOMENTUM_API_KEY=mk_... scripts/crm-walkthrough.sh        # server on 127.0.0.1:8080
#   MOMENTUM_URL=http://host:port MOMENTUM_API_KEY=mk_... scripts/crm-walkthrough.sh
#
# Needs curl and python3 (to read fields out of the JSON).
set -euo pipefail

URL="${MOMENTUM_URL:-http://127.0.0.1:8080}"
KEY="${MOMENTUM_API_KEY:?set MOMENTUM_API_KEY to a key (the server prints the demo key at start)}"
RUN="$(date +%s)-$$" # keeps names unique, so the script can run again on the same tenant

# call METHOD PATH EXPECTED_STATUS [JSON_BODY]: prints the response, keeps its body in $BODY.
call() {
    local method="$1" path="$2" expected="$3" body="${4:-}"
    local args=(-sS -X "$method" -H "Authorization: Bearer $KEY" -o /tmp/momentum-walk.$$ -w '%{http_code}')
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data "$body")
    fi
    local status
    status="$(curl "${args[@]}" "$URL$path")"
    BODY="$(cat /tmp/momentum-walk.$$)"
    echo "== $method $path -> $status"
    python3 -m json.tool --no-ensure-ascii <<<"$BODY" || echo "$BODY"
    if [ "$status" != "$expected" ]; then
        echo "!! expected $expected" >&2
        exit 1
    fi
}

# field EXPRESSION: evaluates a Python expression over the last body (`d`).
field() {
    python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" <<<"$BODY"
}

# expect EXPRESSION: stops unless the Python expression over the last body is true.
expect() {
    if [ "$(field "bool($1)")" != "True" ]; then
        echo "!! expected: $1" >&2
        exit 1
    fi
}

trap 'rm -f /tmp/momentum-walk.$$' EXIT

call POST /v1/companies 201 "{\"name\": \"Acme $RUN\", \"domain\": \"https://www.acme-$RUN.example/about\"}"
expect "d['data']['domain'] == 'acme-$RUN.example' and d['meta']['request_id']"
COMPANY="$(field "d['data']['id']")"

call POST /v1/contacts 201 "{\"first_name\": \"Ada\", \"last_name\": \"Lovelace\", \"email\": \"ada-$RUN@acme.example\", \"company_id\": \"$COMPANY\"}"
expect "d['data']['company_id'] == '$COMPANY'"
CONTACT="$(field "d['data']['id']")"

call GET "/v1/pipelines" 200
PIPELINE="$(field "[p for p in d['data'] if p['name'] == 'Sales'][0]['id']")"
stage() { field "[s for p in d['data'] if p['id'] == '$PIPELINE' for s in p['stages'] if s['name'] == '$1'][0]['id']"; }
QUALIFIED="$(stage Qualified)"; PROPOSAL="$(stage Proposal)"; WON="$(stage Won)"

call POST /v1/leads 201 "{\"title\": \"Analytical engine\", \"pipeline_id\": \"$PIPELINE\", \"contact_id\": \"$CONTACT\", \"company_id\": \"$COMPANY\", \"value\": \"12500\", \"currency\": \"EUR\"}"
expect "d['data']['status'] == 'open' and d['data']['value'] == '12500.00'"
LEAD="$(field "d['data']['id']")"

for STAGE in "$QUALIFIED" "$PROPOSAL" "$WON"; do
    call PATCH "/v1/leads/$LEAD" 200 "{\"stage_id\": \"$STAGE\"}"
done
expect "d['data']['status'] == 'won' and d['data']['won_at']"

call POST /v1/activities 201 "{\"type\": \"call\", \"subject\": \"Signed over the phone\", \"lead_id\": \"$LEAD\", \"contact_id\": \"$CONTACT\"}"

call GET "/v1/leads/$LEAD/activities" 200
expect "[a['type'] for a in d['data']] == ['call', 'stage_change', 'stage_change', 'stage_change']"
expect "[a['subject'] for a in d['data'] if a['system']] == ['Stage changed: Proposal → Won', 'Stage changed: Qualified → Proposal', 'Stage changed: Lead in → Qualified']"
echo "== walkthrough complete: the lead is won and its timeline shows every move"
