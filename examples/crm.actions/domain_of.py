# A workflow custom-code action in Python: the domain of a contact's email address.
def main(event):
    email = event.get("inputFields", {}).get("email") or ""
    domain = email.rpartition("@")[2].lower()
    print(f"domain of {email}: {domain}")
    return {"outputFields": {"domain": domain}}
