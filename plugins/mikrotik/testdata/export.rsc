# 2024-05-02 10:11:12 by RouterOS 7.13
# software id = ABCD-1234
#
# model = RB952Ui-5ac2nD
# serial number = 7DCF08DC745D
/interface bridge
add name=bridge
/ip address
add address=192.168.88.1/24 interface=bridge
/system identity
set name=MikroTik
