module goserver2

go 1.26
