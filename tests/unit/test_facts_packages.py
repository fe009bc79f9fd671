"""dpkg-query answers: installed version, removed-but-configured, never heard of."""

from lvsdeploy.facts.packages import packages_snippet, parse_packages


def test_status_decides_not_the_presence_of_a_version():
    text = "\n".join([
        "@want ipvsadm", "@want keepalived", "@want nfs-common", "@want libc6",
        "ipvsadm ii  1:1.31-1+b1",
        "keepalived rc  1:2.2.7-1+b2",  # removed, config files left: not installed
        "libc6 ii  2.36-9+deb12u4",
        "libc6 un  ",  # a foreign-architecture line must not hide the installed one
    ])  # fmt: skip
    assert parse_packages(text) == {
        "ipvsadm": "1:1.31-1+b1",
        "keepalived": None,
        "nfs-common": None,  # dpkg-query printed nothing for it
        "libc6": "2.36-9+deb12u4",
    }


def test_snippet_tolerates_unknown_names():
    snippet = packages_snippet({"nfs-common", "ipvsadm"})
    assert snippet.endswith("|| true") and "@want %s" in snippet
    assert packages_snippet(set()) == ""
