from pyinfra.api import FileUploadCommand, StringCommand

from tabpy_provision.operations import private_upload


def test_the_file_exists_private_before_its_content_is_uploaded():
    create, upload = private_upload(b"secret", "/etc/tabpy/a b", mode="0640", group="tabpy")
    assert isinstance(create, StringCommand) and isinstance(upload, FileUploadCommand)
    assert str(create) == "install -m 0640 -o root -g tabpy /dev/null '/etc/tabpy/a b'"
    assert upload.dest == "/etc/tabpy/a b" and upload.src.getvalue() == b"secret"
