module tlsprovideroracle

go 1.19
