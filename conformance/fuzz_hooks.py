"""Schemathesis hooks of conformance/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

Both adapt how Schemathesis reads the document, never what the server is asked to do.
"""

import schemathesis


@schemathesis.hook
def before_load_schema(context, raw_schema):
    for item in raw_schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            send_wildcard_bodies_as_json(operation)
            for answer in operation.get("responses", {}).values():
                for link in answer.get("links", {}).values():
                    read_form_link_bodies(link)


def send_wildcard_bodies_as_json(operation):
    """Sends the bodies the seed declares as `*/*` as JSON.

    The server reads every body as JSON whatever its Content-Type (the contract). Left as `*/*`,
    Schemathesis also serializes bodies as XML, YAML, form or text, and some of those come out
    as no body at all (an empty array in XML is an empty document), which the server rightly
    reads as `{}`: the check would then report the invalid value it generated, not the one it
    sent, as accepted.
    """
    content = operation.get("requestBody", {}).get("content", {})
    if "*/*" in content:
        content["application/json"] = content.pop("*/*")


def read_form_link_bodies(link):
    """Gives Schemathesis a link's form body (`token={$response.body#/access_token}`) as the
    object it encodes.

    OpenAPI Generator accepts nothing but a string as a link's requestBody, so the document
    writes a form body as its text with the expression embedded; Schemathesis takes a string
    for the body itself, finds no object where the schema wants one, and counts the step as
    invalid data.
    """
    body = link.get("requestBody")
    if isinstance(body, str) and not body.startswith("$") and "=" in body:
        link["requestBody"] = dict(pair.split("=", 1) for pair in body.split("&"))
