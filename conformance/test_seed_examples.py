#!/usr/bin/env python3
"""Runs the 22 examples of the seed (`billforward.SecurityApi`) against a live server.

The client is the one OpenAPI Generator makes from the server's own OpenAPI document
(scripts/generate-python-client.sh). Every example is called as the seed writes it:
`billforward.SecurityApi(billforward.ApiClient(configuration))`, the seed's method and
parameter names, `body=` with the seed's request model classes. Each result's content is
checked, and so are the contract's error answers.

Environment:
  CONFORMANCE_BASE_URL        e.g. http://127.0.0.1:18080 (without /v1)
  CONFORMANCE_ADMIN_EMAIL     a platform administrator (bfAdmin)
  CONFORMANCE_ADMIN_PASSWORD  his password
  CONFORMANCE_MAIL_DIR        the folder where the server writes each outgoing mail as an .eml
                              file

Not BF_*: the server refuses a BF_* variable that is not one of its settings, and the server
these scripts start inherits their environment.

Prints one line per check and ends with `N passed, M failed`; exits 1 on any failure.
"""

import email
import email.policy
import email.utils
import glob
import json
import os
import re
import secrets
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from types import SimpleNamespace

import billforward
import pydantic
from billforward.rest import ApiException

MAIL_WAIT_SECONDS = 20
CODE_LINE = re.compile(r"^[A-Z0-9]{10,}$")
FOREIGN_ORGANIZATION = "ORG-does-not-belong"

passed = 0
failed = 0


# --- reporting ------------------------------------------------------------------------------


def check(label, condition, detail=""):
    """Records one check; returns the condition so callers may stop early."""
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {label}")
    else:
        failed += 1
        print(f"FAIL {label}" + (f": {detail}" if detail else ""))
    return bool(condition)


def run_example(example, ctx):
    """Runs one example; an exception it did not expect counts as one failed check."""
    try:
        example(ctx)
    except ApiException as e:
        check(f"{example.__name__}: no unexpected ApiException", False, f"{e.status} {e.reason} {e.body}")
    except Exception as e:  # a deserialization error, a missing attribute, a failed lookup
        if isinstance(e, AttributeError) and isinstance(getattr(e, "obj", None), SimpleNamespace):
            check(f"{example.__name__}: its prerequisites", False, f"an earlier example did not provide {e.name!r}")
        else:
            check(f"{example.__name__}: no unexpected {type(e).__name__}", False,
                  "".join(traceback.format_exception_only(type(e), e)).strip())


def expect_error(label, status, error_type, call, parameter=None):
    """Checks that `call` raises the contract's error: status, errorType and, if given, a named field.

    `status` and `error_type` may be tuples where the contract allows more than one answer.
    """
    statuses = status if isinstance(status, tuple) else (status,)
    error_types = error_type if isinstance(error_type, tuple) else (error_type,)
    want = f"{'/'.join(map(str, statuses))} {'/'.join(error_types)}" + (f" naming {parameter!r}" if parameter else "")
    try:
        call()
    except ApiException as e:
        try:
            body = json.loads(e.body or "")
        except ValueError:
            return check(label, False, f"status {e.status}, error body is not JSON: {e.body!r}")
        ok = (
            e.status in statuses
            and isinstance(body, dict)
            and body.get("errorType") in error_types
            and isinstance(body.get("errorMessage"), str)
            and body.get("errorMessage") != ""
            and isinstance(body.get("errorParameters"), list)
            and (parameter is None or parameter in body["errorParameters"])
        )
        return check(label, ok, f"wanted {want}, got {e.status} {e.body}")
    except pydantic.ValidationError as e:
        return check(label, False, "the generated client refused to send it (the OpenAPI document declares a "
                                   f"constraint the server should check instead): {str(e).splitlines()[0]}")
    return check(label, False, f"wanted {want}, the call succeeded")


# --- helpers --------------------------------------------------------------------------------


def http_json(ctx, method, path, token=None, form=None):
    """A plain HTTP call outside the generated client; returns (status, answer as dict)."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(ctx.base_url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, {"raw": body.decode(errors="replace")}


def login(ctx, username, password):
    """POST /v1/oauth/token with the password grant; returns (status, answer as dict)."""
    return http_json(ctx, "POST", "/v1/oauth/token",
                     form={"grant_type": "password", "username": username, "password": password})


def api_for(ctx, access_token=None):
    """The seed's way of making the API object, for a token (or none)."""
    configuration = billforward.Configuration(host=ctx.base_url + "/v1", access_token=access_token)
    return billforward.SecurityApi(billforward.ApiClient(configuration))


def login_api(ctx, username, password):
    status, answer = login(ctx, username, password)
    if status != 200:
        raise AssertionError(f"login of {username} answered {status} {answer}")
    return api_for(ctx, answer["access_token"])


def single(api_response, label):
    """The one entity of a paged envelope."""
    results = api_response.results
    check(f"{label}: envelope holds one result", results is not None and len(results) == 1,
          f"results={results!r}")
    check(f"{label}: envelope counts agree", api_response.records_returned == len(results or []),
          f"recordsReturned={api_response.records_returned}")
    return results[0]


def permission_set(role):
    return {(p.resource.lower(), p.action.lower()) for p in (role.permissions or [])}


def role_names(user):
    return {r.name for r in (user.roles or [])}


def walk_pages(call, limit=50):
    """Every record of a paged listing: follows offsets until no nextPage (bounded)."""
    records, offset = [], 0
    for _ in range(limit):
        page = call(offset)
        records.extend(page.results or [])
        if not page.next_page:
            break
        offset += page.records_returned
    return records


def strong_password():
    return "Cf-" + secrets.token_urlsafe(18)


def mail_recipients(message):
    fields = message.get_all("To", []) + message.get_all("Cc", [])
    return {address.lower() for _, address in email.utils.getaddresses([str(f) for f in fields])}


def plain_text(message):
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    return part.get_content()


def wait_for_mail(ctx, recipient, since):
    """The newest .eml for `recipient` written at or after `since`, as an EmailMessage, or None."""
    deadline = time.time() + MAIL_WAIT_SECONDS
    while True:
        candidates = []
        for path in glob.glob(os.path.join(ctx.mail_dir, "**", "*.eml"), recursive=True):
            try:
                mtime = os.path.getmtime(path)
                if mtime < since - 1:
                    continue
                with open(path, "rb") as f:
                    message = email.message_from_binary_file(f, policy=email.policy.default)
            except (OSError, ValueError):
                continue  # being written right now: try again next round
            if recipient.lower() in mail_recipients(message):
                candidates.append((mtime, path, message))
        if candidates:
            return max(candidates, key=lambda c: (c[0], c[1]))[2]
        if time.time() > deadline:
            return None
        time.sleep(0.25)


def code_from_mail(ctx, recipient, since, label):
    """The code standing alone on a line of the plain-text part of the newest mail to `recipient`."""
    message = wait_for_mail(ctx, recipient, since)
    if not check(f"{label}: a mail reached {recipient}", message is not None,
                 f"no .eml for {recipient} in {ctx.mail_dir} within {MAIL_WAIT_SECONDS}s"):
        return None
    codes = [line.strip() for line in plain_text(message).splitlines() if CODE_LINE.match(line.strip())]
    check(f"{label}: the mail's plain text has the code alone on a line", len(codes) >= 1,
          f"plain text was: {plain_text(message)!r}")
    return codes[0] if codes else None


# --- the seed's examples, in an order where each one's prerequisites exist --------------------


def get_current_user(ctx):
    api_instance = ctx.admin_api
    api_response = api_instance.get_current_user()
    me = single(api_response, "get_current_user")
    check("get_current_user: answers the caller", me.email.lower() == ctx.admin_email.lower(), me.email)
    check("get_current_user: the bootstrap admin is bfAdmin", me.bf_admin is True, repr(me.bf_admin))
    check("get_current_user: carries a home organizationID", bool(me.organization_id), repr(me.organization_id))
    ctx.org = me.organization_id

    api_response = api_instance.get_current_user(organizations=[ctx.org])
    check("get_current_user(organizations=[home]): same user",
          single(api_response, "get_current_user(organizations)").id == me.id)


def get_my_organizations(ctx):
    api_instance = ctx.admin_api
    api_response = api_instance.get_my_organizations()
    ids = {o.id for o in api_response.results}
    check("get_my_organizations: lists the caller's home organization", ctx.org in ids, f"{ids}")
    check("get_my_organizations: organizations carry a name",
          all(o.name for o in api_response.results), repr(api_response.results))


def create_role(ctx):
    api_instance = ctx.admin_api
    body = billforward.CreateRoleRequest(
        name=ctx.role_name,
        description="conformance role",
        organization_id=ctx.org,
        permissions=[{"resource": "Users", "action": "read"}, {"resource": "Roles", "action": "read"}],
    )
    api_response = api_instance.create_role(body=body)
    role = single(api_response, "create_role")
    check("create_role: the name comes back", role.name == ctx.role_name, role.name)
    check("create_role: the description comes back", role.description == "conformance role", role.description)
    check("create_role: the permissions come back",
          permission_set(role) == {("users", "read"), ("roles", "read")}, f"{permission_set(role)}")
    check("create_role: in the organization named", role.organization_id == ctx.org, role.organization_id)
    check("create_role: an ID of the ROL- kind", role.id.startswith("ROL-"), role.id)
    ctx.role_id = role.id

    expect_error("create_role without a name: 400 ValidationError naming name", 400, "ValidationError",
                 lambda: api_instance.create_role(body=billforward.CreateRoleRequest()), parameter="name")
    expect_error("create_role with a taken name: 409 Conflict", 409, "Conflict",
                 lambda: api_instance.create_role(body=billforward.CreateRoleRequest(name=ctx.role_name)))
    expect_error("create_role with a permission outside the catalogue: 400", 400, "ValidationError",
                 lambda: api_instance.create_role(body=billforward.CreateRoleRequest(
                     name=ctx.role_name + "-bad", permissions=[{"resource": "NoSuchThing", "action": "read"}])))


def get_role_by_id(ctx):
    api_instance = ctx.admin_api
    api_response = api_instance.get_role_by_id(ctx.role_id, organizations=[ctx.org], include_retired=False)
    role = single(api_response, "get_role_by_id")
    check("get_role_by_id: the role by ID", role.id == ctx.role_id and role.name == ctx.role_name,
          f"{role.id} {role.name}")
    by_name = single(api_instance.get_role_by_id(ctx.role_name), "get_role_by_id(name)")
    check("get_role_by_id: the same role by name", by_name.id == ctx.role_id, by_name.id)
    expect_error("get_role_by_id of an unknown role: 404 NotFound", 404, "NotFound",
                 lambda: api_instance.get_role_by_id("ROL-no-such-role"))


def get_all_roles(ctx):
    api_instance = ctx.admin_api
    api_response = api_instance.get_all_roles(organizations=[ctx.org], offset=0, records=10,
                                              order_by="created", order="DESC", include_retired=False)
    check("get_all_roles: the envelope's paging fields",
          api_response.current_offset == 0 and api_response.records_requested == 10
          and api_response.records_returned == len(api_response.results),
          f"offset={api_response.current_offset} requested={api_response.records_requested} "
          f"returned={api_response.records_returned} len={len(api_response.results)}")
    roles = walk_pages(lambda offset: api_instance.get_all_roles(
        organizations=[ctx.org], offset=offset, records=10, order_by="created", order="DESC"))
    mine = [r for r in roles if r.id == ctx.role_id]
    check("get_all_roles: lists the created role once", len(mine) == 1, f"{len(mine)} times")
    check("get_all_roles: with its permissions",
          bool(mine) and permission_set(mine[0]) == {("users", "read"), ("roles", "read")})
    status, answer = http_json(ctx, "GET", "/v1/roles?records=0", ctx.admin_token)
    check("GET /v1/roles?records=0: 400 ValidationError naming records",
          status == 400 and answer.get("errorType") == "ValidationError"
          and "records" in answer.get("errorParameters", []), f"{status} {answer}")


def update_role(ctx):
    api_instance = ctx.admin_api
    body = billforward.UpdateRoleRequest(
        id=ctx.role_id,
        description="conformance role, updated",
        permissions=[{"resource": "Users", "action": "read"}, {"resource": "Users", "action": "update"}],
    )
    api_response = api_instance.update_role(body=body)
    role = single(api_response, "update_role")
    check("update_role: the description changed", role.description == "conformance role, updated",
          role.description)
    check("update_role: the name is kept", role.name == ctx.role_name, role.name)
    check("update_role: permissions became the whole new set",
          permission_set(role) == {("users", "read"), ("users", "update")}, f"{permission_set(role)}")


def remove_permission_from_role(ctx):
    api_instance = ctx.admin_api
    api_response = api_instance.remove_permission_from_role(ctx.role_id, "Users", "update",
                                                            organizations=[ctx.org])
    role = single(api_response, "remove_permission_from_role")
    check("remove_permission_from_role: that permission is gone",
          permission_set(role) == {("users", "read")}, f"{permission_set(role)}")
    expect_error("remove_permission_from_role of a permission the role lacks: 404", 404, "NotFound",
                 lambda: api_instance.remove_permission_from_role(ctx.role_id, "Users", "update"))


def create_user_login(ctx):
    api_instance = ctx.admin_api
    body = billforward.UserCreateRequest(
        email=ctx.user_email,
        password=ctx.user_password,
        first_name="Conny",
        last_name="Formance",
        organization_id=ctx.org,
        roles=[ctx.role_name],
    )
    api_response = api_instance.create_user_login(body=body)
    user = single(api_response, "create_user_login")
    check("create_user_login: the e-mail comes back", user.email.lower() == ctx.user_email, user.email)
    check("create_user_login: the names come back", (user.first_name, user.last_name) == ("Conny", "Formance"),
          f"{user.first_name} {user.last_name}")
    check("create_user_login: holds the role named", ctx.role_name in role_names(user), f"{role_names(user)}")
    check("create_user_login: an ID of the USR- kind", user.id.startswith("USR-"), user.id)
    ctx.user_id = user.id

    status, answer = login(ctx, ctx.user_email, ctx.user_password)
    check("create_user_login: the new user can log in", status == 200 and answer.get("access_token"),
          f"{status} {answer}")
    ctx.user_api = api_for(ctx, answer.get("access_token"))

    expect_error("create_user_login with a taken e-mail: 409 Conflict", 409, "Conflict",
                 lambda: api_instance.create_user_login(body=billforward.UserCreateRequest(
                     email=ctx.user_email.upper(), password=strong_password(), organization_id=ctx.org)))
    expect_error("create_user_login without an e-mail: 400 naming email", 400, "ValidationError",
                 lambda: api_instance.create_user_login(body=billforward.UserCreateRequest()), parameter="email")


def get_simple_all_users(ctx):
    api_instance = ctx.admin_api
    api_response = api_instance.get_simple_all_users(organizations=[ctx.org], offset=0, records=10,
                                                     order_by="created", order="DESC")
    check("get_simple_all_users: at most the records requested", len(api_response.results) <= 10,
          f"{len(api_response.results)}")
    users = walk_pages(lambda offset: api_instance.get_simple_all_users(
        organizations=[ctx.org], offset=offset, records=10, order_by="email", order="ASC"))
    emails = [u.email.lower() for u in users]
    check("get_simple_all_users: lists the created user", ctx.user_email in emails, f"{emails}")
    check("get_simple_all_users: order_by=email ASC is ordered", emails == sorted(emails), f"{emails}")


def get_user_by_username(ctx):
    api_instance = ctx.admin_api
    api_response = api_instance.get_user_by_username(ctx.user_email, organizations=[ctx.org])
    user = single(api_response, "get_user_by_username")
    check("get_user_by_username: the user asked for", user.id == ctx.user_id, user.id)
    roles = [r for r in (user.roles or []) if r.name == ctx.role_name]
    check("get_user_by_username: his role with its permissions",
          bool(roles) and permission_set(roles[0]) == {("users", "read")},
          f"{[(r.name, permission_set(r)) for r in user.roles or []]}")

    raw = api_instance.get_user_by_username_with_http_info(ctx.user_email).raw_data.decode()
    keys = set(re.findall(r'"([A-Za-z_]+)"\s*:', raw))
    leaked = {k for k in keys if re.search(r"password|hash|secret|resetCode|inviteCode", k, re.I)}
    leaked.discard("passwordResetValidTill")
    check("get_user_by_username: no password, hash or code in the JSON", not leaked, f"{leaked}")

    expect_error("get_user_by_username of an unknown e-mail: 404 NotFound", 404, "NotFound",
                 lambda: api_instance.get_user_by_username(f"nobody-{ctx.suffix}@example.com"))


def update_user_infos(ctx):
    api_instance = ctx.admin_api
    body = billforward.UpdateUserInfoRequest(first_name="Connie", timezone="Europe/London")
    api_response = api_instance.update_user_infos(ctx.user_email, body=body, organizations=[ctx.org])
    user = single(api_response, "update_user_infos")
    check("update_user_infos: the first name changed", user.first_name == "Connie", user.first_name)
    check("update_user_infos: the timezone changed", user.timezone == "Europe/London", user.timezone)
    check("update_user_infos: fields not sent are kept", user.last_name == "Formance", user.last_name)
    expect_error("update_user_infos with a bad timezone: 400 naming timezone", 400, "ValidationError",
                 lambda: api_instance.update_user_infos(
                     ctx.user_email, body=billforward.UpdateUserInfoRequest(timezone="Mars/Olympus")),
                 parameter="timezone")


def access_checks(ctx):
    """Not a seed example: the contract's 401 and 403 through the same client."""
    me = single(ctx.user_api.get_current_user(), "get_current_user as the new user")
    check("get_current_user as the new user: answers him", me.email.lower() == ctx.user_email, me.email)
    check("get_current_user as the new user: not bfAdmin", me.bf_admin is False, repr(me.bf_admin))
    expect_error("get_current_user in a foreign organization: 403 PermissionsError", 403, "PermissionsError",
                 lambda: ctx.user_api.get_current_user(organizations=[FOREIGN_ORGANIZATION]))
    expect_error("create_role without Roles:create: 403 PermissionsError", 403, "PermissionsError",
                 lambda: ctx.user_api.create_role(body=billforward.CreateRoleRequest(name="never-" + ctx.suffix)))
    expect_error("get_current_user without a token: 401 Unauthorized", 401, "Unauthorized",
                 lambda: api_for(ctx).get_current_user())
    expect_error("get_current_user with an unknown token: 401 Unauthorized", 401, "Unauthorized",
                 lambda: api_for(ctx, "not-a-token-" + ctx.suffix).get_current_user())
    try:
        api_for(ctx).get_all_roles()
        check("401 carries WWW-Authenticate: Bearer", False, "the call succeeded")
    except ApiException as e:
        challenge = (e.headers or {}).get("WWW-Authenticate", "")
        check("401 carries WWW-Authenticate: Bearer", challenge.lower().startswith("bearer"), repr(challenge))


def update_user_password(ctx):
    api_instance = ctx.user_api
    new_password = strong_password()
    body = billforward.UpdatePasswordRequest(current_password=ctx.user_password, new_password=new_password)
    api_response = api_instance.update_user_password(ctx.user_email, body=body, organizations=[ctx.org])
    user = single(api_response, "update_user_password")
    check("update_user_password: returns the user", user.id == ctx.user_id, user.id)
    status, _ = login(ctx, ctx.user_email, new_password)
    check("update_user_password: the new password logs in", status == 200, f"{status}")
    status, answer = login(ctx, ctx.user_email, ctx.user_password)
    check("update_user_password: the old one no longer does",
          status == 400 and answer.get("error") == "invalid_grant", f"{status} {answer}")
    ctx.user_password = new_password
    expect_error("update_user_password with a wrong current password: 400 or 403",
                 (400, 403), ("ValidationError", "PermissionsError"),
                 lambda: api_instance.update_user_password(ctx.user_email, body=billforward.UpdatePasswordRequest(
                     current_password="wrong-" + ctx.suffix, new_password=strong_password())))
    expect_error("update_user_password with a too short password: 400 naming newPassword", 400,
                 "ValidationError",
                 lambda: api_instance.update_user_password(ctx.user_email, body=billforward.UpdatePasswordRequest(
                     current_password=ctx.user_password, new_password="short")), parameter="newPassword")


def update_email(ctx):
    api_instance = ctx.user_api
    old_email, new_email = ctx.user_email, f"conf-{ctx.suffix}-renamed@example.com"
    since = time.time()
    body = billforward.UpdateEmailRequest(new_email=new_email, password=ctx.user_password)
    api_response = api_instance.update_email(old_email, body=body, organizations=[ctx.org])
    user = single(api_response, "update_email")
    check("update_email: the e-mail changed", user.email.lower() == new_email, user.email)
    ctx.user_email = new_email
    found = single(ctx.admin_api.get_user_by_username(new_email), "get_user_by_username(new e-mail)")
    check("update_email: the user is found by the new e-mail", found.id == ctx.user_id, found.id)
    expect_error("update_email: the old e-mail is gone (404)", 404, "NotFound",
                 lambda: ctx.admin_api.get_user_by_username(old_email))
    check("update_email: a notice went to the old address", wait_for_mail(ctx, old_email, since) is not None)
    status, _ = login(ctx, new_email, ctx.user_password)
    check("update_email: the new e-mail logs in", status == 200, f"{status}")
    expect_error("update_email to a taken e-mail: 409 Conflict", 409, "Conflict",
                 lambda: ctx.admin_api.update_email(new_email, body=billforward.UpdateEmailRequest(
                     new_email=ctx.admin_email)))


def request_password_reset_code(ctx):
    api_instance = api_for(ctx)  # public: no token
    since = time.time()
    body = billforward.PasswordResetCodeRequest(email=ctx.user_email)
    api_response = api_instance.request_password_reset_code(body=body)
    check("request_password_reset_code: answers a success envelope", api_response.results is not None,
          repr(api_response))
    ctx.reset_code = code_from_mail(ctx, ctx.user_email, since, "request_password_reset_code")

    unknown = api_instance.request_password_reset_code(
        body=billforward.PasswordResetCodeRequest(email=f"nobody-{ctx.suffix}@example.com"))
    shape = lambda r: {k: v for k, v in r.to_dict().items() if k != "executionTime"}
    check("request_password_reset_code: the same answer for an unknown e-mail",
          shape(unknown) == shape(api_response), f"{shape(unknown)} vs {shape(api_response)}")


def update_user_password_with_reset_code(ctx):
    api_instance = api_for(ctx)  # public: no token
    new_password = strong_password()
    body = billforward.PasswordUpdateWithResetCodeRequest(email=ctx.user_email, reset_code=ctx.reset_code,
                                                          new_password=new_password)
    api_response = api_instance.update_user_password_with_reset_code(body=body)
    user = single(api_response, "update_user_password_with_reset_code")
    check("update_user_password_with_reset_code: returns the user", user.id == ctx.user_id, user.id)
    status, answer = login(ctx, ctx.user_email, new_password)
    check("update_user_password_with_reset_code: the new password logs in", status == 200, f"{status}")
    ctx.user_password = new_password
    ctx.user_api = api_for(ctx, answer.get("access_token"))
    expect_error("update_user_password_with_reset_code: a used code is refused (400)", 400, "ValidationError",
                 lambda: api_instance.update_user_password_with_reset_code(
                     body=billforward.PasswordUpdateWithResetCodeRequest(
                         email=ctx.user_email, reset_code=ctx.reset_code, new_password=strong_password())))


def get_temporary_api_tokens(ctx):
    api_instance = ctx.user_api
    api_response = api_instance.get_temporary_api_tokens()
    check("get_temporary_api_tokens: an access token", bool(api_response.access_token))
    check("get_temporary_api_tokens: a refresh token", bool(api_response.refresh_token))
    check("get_temporary_api_tokens: token type bearer", (api_response.token_type or "").lower() == "bearer",
          repr(api_response.token_type))
    check("get_temporary_api_tokens: expires, the refresh later",
          0 < (api_response.expires_in or 0) <= (api_response.refresh_expires_in or 0),
          f"{api_response.expires_in} {api_response.refresh_expires_in}")
    check("get_temporary_api_tokens: for the acting organization", api_response.organization_id == ctx.org,
          repr(api_response.organization_id))
    me = single(api_for(ctx, api_response.access_token).get_current_user(), "get_current_user(temporary)")
    check("get_temporary_api_tokens: the access token works", me.id == ctx.user_id, me.id)


def get_private_permanent_api_token(ctx):
    api_instance = ctx.user_api
    body = billforward.UserPrivatePermanentTokenRequest(organization_id=ctx.org, description="conformance")
    api_response = api_instance.get_private_permanent_api_token(body=body)
    check("get_private_permanent_api_token: an access token", bool(api_response.access_token))
    check("get_private_permanent_api_token: token type bearer",
          (api_response.token_type or "").lower() == "bearer", repr(api_response.token_type))
    check("get_private_permanent_api_token: no expiry", api_response.expires_in is None,
          repr(api_response.expires_in))
    check("get_private_permanent_api_token: for the organization asked",
          api_response.organization_id == ctx.org, repr(api_response.organization_id))
    me = single(api_for(ctx, api_response.access_token).get_current_user(), "get_current_user(permanent)")
    check("get_private_permanent_api_token: the token works", me.id == ctx.user_id, me.id)
    ctx.permanent_token = api_response.access_token
    expect_error("get_private_permanent_api_token a second time: 409 Conflict", 409, "Conflict",
                 lambda: api_instance.get_private_permanent_api_token(body=body))


def refresh_permanent_api_token(ctx):
    api_instance = ctx.user_api
    body = billforward.UserPrivatePermanentTokenRefreshRequest(organization_id=ctx.org, grace_period_seconds=0)
    api_response = api_instance.refresh_permanent_api_token(body=body)
    check("refresh_permanent_api_token: a new token", bool(api_response.access_token)
          and api_response.access_token != ctx.permanent_token)
    check("refresh_permanent_api_token: no expiry", api_response.expires_in is None, repr(api_response.expires_in))
    me = single(api_for(ctx, api_response.access_token).get_current_user(), "get_current_user(rotated)")
    check("refresh_permanent_api_token: the new token works", me.id == ctx.user_id, me.id)
    expect_error("refresh_permanent_api_token: the old token is revoked (401)", 401, "Unauthorized",
                 lambda: api_for(ctx, ctx.permanent_token).get_current_user())


def invite_user_login(ctx):
    api_instance = ctx.admin_api
    since = time.time()
    body = billforward.UserInviteRequest(
        email=ctx.invitee_email,
        roles=[ctx.role_name],
        organization_id=ctx.org,
        first_name="Ivy",
        last_name="Invitee",
        send_email=True,
    )
    api_response = api_instance.invite_user_login(body=body)
    user = single(api_response, "invite_user_login")
    check("invite_user_login: the invited e-mail comes back", user.email.lower() == ctx.invitee_email, user.email)
    check("invite_user_login: not enabled before accepting", user.enabled is False, repr(user.enabled))
    ctx.invite_code = code_from_mail(ctx, ctx.invitee_email, since, "invite_user_login")
    status, answer = login(ctx, ctx.invitee_email, "anything-" + ctx.suffix)
    check("invite_user_login: the invitee cannot log in yet", status == 400 and answer.get("error") == "invalid_grant",
          f"{status} {answer}")


def link_open_id_token_to_user(ctx):
    api_instance = api_for(ctx)  # the invite code is the credential
    body = billforward.OpenIdUserLinkRequest(invite_code=ctx.invite_code, id_token="bogus.id-token." + ctx.suffix)
    expect_error("link_open_id_token_to_user with a bogus idToken: 400 ValidationError", 400, "ValidationError",
                 lambda: api_instance.link_open_id_token_to_user(body=body))


def accept_invitation(ctx):
    """Not a seed example: the invite code (not consumed by the failed link) sets a password."""
    password = strong_password()
    api_response = api_for(ctx).update_user_password_with_reset_code(
        body=billforward.PasswordUpdateWithResetCodeRequest(email=ctx.invitee_email, reset_code=ctx.invite_code,
                                                            new_password=password))
    user = single(api_response, "accept the invitation")
    check("accept the invitation: the invitee is enabled", user.enabled is True, repr(user.enabled))
    me = single(login_api(ctx, ctx.invitee_email, password).get_current_user(), "get_current_user(invitee)")
    check("accept the invitation: the invitee holds the invited role", ctx.role_name in role_names(me),
          f"{role_names(me)}")


def create_flexcheck_user_login(ctx):
    api_instance = ctx.admin_api
    company = f"Conformance {ctx.suffix}"
    password = strong_password()
    body = billforward.UserCreateRequest(email=ctx.flex_email, password=password, first_name="Flex",
                                         last_name="Check", company_name=company)
    api_response = api_instance.create_flexcheck_user_login(body=body)
    user = single(api_response, "create_flexcheck_user_login")
    check("create_flexcheck_user_login: the e-mail comes back", user.email.lower() == ctx.flex_email, user.email)
    check("create_flexcheck_user_login: in a new organization", bool(user.organization_id)
          and user.organization_id != ctx.org, repr(user.organization_id))
    flex_api = login_api(ctx, ctx.flex_email, password)
    organizations = flex_api.get_my_organizations().results
    check("create_flexcheck_user_login: the new organization is named after companyName",
          [(o.id, o.name) for o in organizations] == [(user.organization_id, company)],
          f"{[(o.id, o.name) for o in organizations]}")
    me = single(flex_api.get_current_user(), "get_current_user(flexcheck user)")
    administrator = [r for r in (me.roles or []) if r.name == "Administrator"]
    check("create_flexcheck_user_login: he holds Administrator (*/*)",
          bool(administrator) and ("*", "*") in permission_set(administrator[0]),
          f"{[(r.name, permission_set(r)) for r in me.roles or []]}")


def revoke_role(ctx):
    api_instance = ctx.admin_api
    api_response = api_instance.revoke_role(ctx.role_id, organizations=[ctx.org])
    role = single(api_response, "revoke_role")
    check("revoke_role: marked deleted and revoked", role.deleted is True and role.revoked is not None,
          f"deleted={role.deleted!r} revoked={role.revoked!r}")
    expect_error("revoke_role: the revoked role is 404 by default", 404, "NotFound",
                 lambda: api_instance.get_role_by_id(ctx.role_id))
    kept = single(api_instance.get_role_by_id(ctx.role_id, include_retired=True), "get_role_by_id(retired)")
    check("revoke_role: still there with include_retired=true", kept.id == ctx.role_id, kept.id)
    live = walk_pages(lambda offset: api_instance.get_all_roles(organizations=[ctx.org], offset=offset))
    every = walk_pages(lambda offset: api_instance.get_all_roles(organizations=[ctx.org], offset=offset,
                                                                 include_retired=True))
    check("revoke_role: get_all_roles leaves it out", ctx.role_id not in {r.id for r in live})
    check("revoke_role: get_all_roles(include_retired=True) has it", ctx.role_id in {r.id for r in every})
    me = single(ctx.user_api.get_current_user(), "get_current_user after revoke_role")
    check("revoke_role: its holders lose it at once", ctx.role_name not in role_names(me), f"{role_names(me)}")


EXAMPLES = [
    get_current_user,
    get_my_organizations,
    create_role,
    get_role_by_id,
    get_all_roles,
    update_role,
    remove_permission_from_role,
    create_user_login,
    get_simple_all_users,
    get_user_by_username,
    update_user_infos,
    access_checks,
    update_user_password,
    update_email,
    request_password_reset_code,
    update_user_password_with_reset_code,
    get_temporary_api_tokens,
    get_private_permanent_api_token,
    refresh_permanent_api_token,
    invite_user_login,
    link_open_id_token_to_user,
    accept_invitation,
    create_flexcheck_user_login,
    revoke_role,
]


def main():
    missing = [v for v in ("CONFORMANCE_BASE_URL", "CONFORMANCE_ADMIN_EMAIL", "CONFORMANCE_ADMIN_PASSWORD", "CONFORMANCE_MAIL_DIR") if not os.environ.get(v)]
    if missing:
        print(f"missing environment: {', '.join(missing)}", file=sys.stderr)
        return 2
    suffix = secrets.token_hex(4)
    ctx = SimpleNamespace(
        base_url=os.environ["CONFORMANCE_BASE_URL"].rstrip("/"),
        admin_email=os.environ["CONFORMANCE_ADMIN_EMAIL"],
        mail_dir=os.environ["CONFORMANCE_MAIL_DIR"],
        suffix=suffix,
        role_name=f"conformance-{suffix}",
        user_email=f"conf-{suffix}-user@example.com",
        user_password=strong_password(),
        invitee_email=f"conf-{suffix}-invitee@example.com",
        flex_email=f"conf-{suffix}-flex@example.com",
    )

    try:
        status, answer = login(ctx, ctx.admin_email, os.environ["CONFORMANCE_ADMIN_PASSWORD"])
    except OSError as e:  # the server is not there at all
        status, answer = None, {"error": str(e)}
    token_ok = (status == 200 and bool(answer.get("access_token"))
                and str(answer.get("token_type", "")).lower() == "bearer"
                and {"expires_in", "refresh_token", "scope", "organizationID"} <= answer.keys())
    if check("POST /v1/oauth/token: the admin logs in with the password grant", token_ok, f"{status} {answer}"):
        ctx.admin_token = answer["access_token"]
        configuration = billforward.Configuration(host=ctx.base_url + "/v1", access_token=ctx.admin_token)
        ctx.admin_api = billforward.SecurityApi(billforward.ApiClient(configuration))
        for example in EXAMPLES:
            run_example(example, ctx)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
